# First boot of a master: create the CA and the master's certificate with
# `puppetserver ca setup`, as an operator does after installing Puppet Server.
cadir=/etc/puppet/puppetserver/ca
ssldir=/var/lib/puppet/ssl
if [ ! -e "$cadir/ca_crt.pem" ]; then
    alt=${REGENLAB_DNS_ALT_NAMES:-puppet,$(hostname)}
    puppetserver ca setup --certname "$(hostname)" --subject-alt-names "$alt" || exit 1
fi
chown -R puppet:puppet "$cadir" "$ssldir"
exit 0
