# First boot of a PuppetDB host (after 10-certname.sh): Debian's
# `puppetdb ssl-setup` points jetty.ini at this host's agent cert and key. It
# takes ssl-ca-cert from `puppet config print cacert`, a path that exists only
# on a CA host, so ssl-ca-cert is corrected to localcacert (docs/puppet.md).
jetty=/etc/puppetdb/conf.d/jetty.ini
grep -q '^ssl-port *=' "$jetty" && exit 0
puppetdb ssl-setup || exit 1
printf 'set /files%s/jetty/ssl-ca-cert %s\n' "$jetty" "$(puppet config print localcacert)" \
    | augtool -Ast "Puppet.lns incl $jetty" || exit 1
