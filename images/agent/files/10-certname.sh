# Sets certname (the container's hostname) and, if given, dns_alt_names, server,
# ca_server, key_type and keylength in puppet.conf's [main], as an operator does when installing a host
# (a site file's lab: its master's name, its CA on the master behind compilers).
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
[ -n "${REGENLAB_SERVER:-}" ] && set_main server "$REGENLAB_SERVER"
[ -n "${REGENLAB_CA_SERVER:-}" ] && set_main ca_server "$REGENLAB_CA_SERVER"
# a site's agents' keys (Puppet's own settings; unset: Puppet's defaults, RSA 4096)
[ -n "${REGENLAB_KEY_TYPE:-}" ] && set_main key_type "$REGENLAB_KEY_TYPE"
[ -n "${REGENLAB_KEYLENGTH:-}" ] && set_main keylength "$REGENLAB_KEYLENGTH"
mkdir -p /var/log/puppet
exit 0
