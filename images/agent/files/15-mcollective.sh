# MCollective's server config names this host's Puppet cert; its facts are the few an
# operator filters on. Nothing to do where Debian has no mcollective (trixie).
[ -x /usr/sbin/mcollectived ] || exit 0
certname=$(hostname)
sed "s/@CERTNAME@/$certname/g" /etc/mcollective/server.cfg.in > /etc/mcollective/server.cfg
chmod 0640 /etc/mcollective/server.cfg
printf -- '---\ncertname: %s\nhostname: %s\n' "$certname" "$certname" > /etc/mcollective/facts.yaml
exit 0
