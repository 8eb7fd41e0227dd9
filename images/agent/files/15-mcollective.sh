# MCollective's server config names this host's Puppet cert; its facts are the few an
# operator filters on. Nothing to do where Debian has no mcollective (trixie).
[ -x /usr/sbin/mcollectived ] || exit 0
certname=$(hostname)
# a site's broker by its certname: the stomp gem checks the broker's cert against the name it
# connects to. A boot setting, not an edit after start, which raced this script (CI saw one agent
# of five keep `broker`: "certificate verify failed (hostname mismatch)").
broker=${REGENLAB_BROKER:-broker}
sed -e "s/@CERTNAME@/$certname/g" \
    -e "s/^plugin.activemq.pool.1.host = broker$/plugin.activemq.pool.1.host = $broker/" \
    /etc/mcollective/server.cfg.in > /etc/mcollective/server.cfg
chmod 0640 /etc/mcollective/server.cfg
printf -- '---\ncertname: %s\nhostname: %s\n' "$certname" "$certname" > /etc/mcollective/facts.yaml
exit 0
