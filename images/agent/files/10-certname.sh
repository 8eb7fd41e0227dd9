# Sets certname (the container's hostname) and, if given, dns_alt_names in
# puppet.conf's [main], as an operator does when installing a host.
conf=/etc/puppet/puppet.conf
set_main() {
    if grep -q "^$1 *=" "$conf"; then
        sed -i "s|^$1 *=.*|$1 = $2|" "$conf"
    else
        sed -i "/^\[main\]/a $1 = $2" "$conf"
    fi
}
set_main certname "$(hostname)"
[ -n "${REGENLAB_DNS_ALT_NAMES:-}" ] && set_main dns_alt_names "$REGENLAB_DNS_ALT_NAMES"
mkdir -p /var/log/puppet
exit 0
