# First boot of a master: create the CA and the master's certificate with
# `puppetserver ca setup`, as an operator does after installing Puppet Server.
# A compiler (REGENLAB_COMPILER=1) has its CA service disabled instead: its cert
# comes from the master's CA (`puppet ssl bootstrap`, ca_server) before it starts.
cadir=/etc/puppet/puppetserver/ca
ssldir=/var/lib/puppet/ssl
if [ "${REGENLAB_COMPILER:-}" = 1 ]; then
    cp /etc/regenlab/compiler/ca.cfg /etc/puppet/puppetserver/services.d/ca.cfg
    mkdir -p "$ssldir" && chown -R puppet:puppet "$ssldir"
    exit 0
fi
if [ ! -e "$cadir/ca_crt.pem" ]; then
    alt=${REGENLAB_DNS_ALT_NAMES:-puppet,$(hostname)}
    puppetserver ca setup --certname "$(hostname)" --subject-alt-names "$alt" || exit 1
fi
chown -R puppet:puppet "$cadir" "$ssldir"
exit 0
