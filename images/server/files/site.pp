# Every node gets one managed file: a first run changes it, later runs do not.
node default {
  file { '/etc/regenlab-managed':
    ensure  => file,
    mode    => '0644',
    content => "Managed by Puppet for ${trusted['certname']}\n",
  }
}
