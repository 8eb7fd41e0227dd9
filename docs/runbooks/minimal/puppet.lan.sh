#!/bin/sh
# regenerating every certificate of /work/main/examples/minimal.yaml (master puppet.lan (alt names puppet); no PuppetDB; no MCollective; 2 agents; Puppet 7; signing autosign): the commands on puppet.lan (server, certname puppet.lan), step by step.
# Made from the run on lab minimal. The order across hosts, the checks and the waits: runbook.md.
# A line that needs a value of the run's own (a <PLACEHOLDER>: runbook.md says which) is commented out.
# Not meant to run unattended: the steps of several hosts interleave, and some wait on others.
set -u
PATH="$PATH:/opt/puppetlabs/bin"
if command -v puppet >/dev/null; then
  LOCALCACERT=$(puppet config print localcacert --section server)
  HOSTCRL=$(puppet config print hostcrl --section server)
  CERTDIR=$(puppet config print certdir --section server)
  PRIVATEKEYDIR=$(puppet config print privatekeydir --section server)
  PUBLICKEYDIR=$(puppet config print publickeydir --section server)
  CADIR=$(puppet config print cadir --section server)
  SSLDIR=$(puppet config print ssldir --section server)
  CONFDIR=$(puppet config print confdir --section server)
fi

# --- step pre: preflight: hosts, services, clocks, disk, certificates
date +%s.%N  # sent twice in the rehearsal
service puppetserver status
sh -c 'PATH="/opt/puppetlabs/puppet/bin:$PATH" ruby -e '"'"'require "puppet/version"; puts Puppet.version'"'"' 2>/dev/null || PATH="$PATH:/opt/puppetlabs/bin" exec puppet --version'
sh -c 'PATH="$PATH:/opt/puppetlabs/bin" exec puppet config print "$@" --section server' sh ssldir certdir privatekeydir publickeydir localcacert hostcrl cadir confdir
cat "${CERTDIR}/puppet.lan.pem"  # sent twice in the rehearsal; copied to the operator's machine
cat "${CADIR}/ca_crt.pem"  # copied to the operator's machine
ls "${CADIR}/requests"
sh -c 'du -sk "$1" "$2" | awk '"'"'{s+=$1} END {print s}'"'"'; df -Pk /root | awk '"'"'NR==2 {print $4}'"'"'' sh "${CADIR}" "${SSLDIR}"

# --- step 0: record the old CA, the master's alt names, one agent's old credentials
cat "${CADIR}/ca_crt.pem"  # copied to the operator's machine
cat "${CERTDIR}/puppet.lan.pem"  # copied to the operator's machine

# --- step 1.2: stop the master's agent service
service puppet stop

# --- step 1.3: stop Puppet Server
service puppetserver stop

# --- step 1.1: back up ssldir and cadir, Puppet Server stopped (verified, read back)
sh -c 'for s in puppet puppetserver; do service $s status >/dev/null 2>&1 && { service $s stop || exit 1; }; done; exit 0'
# (needs the run's own value) sh -c 'p=$1 t=$2; shift 2; rm -f "$p"-*.tar.gz; umask 077 && tar -C / -czf "$t" "$@"' sh /root/regen-backup /root/regen-backup-<RANDOM>.tar.gz "${CADIR#/}" "${SSLDIR#/}" "${CONFDIR#/}/puppet.conf"
# (needs the run's own value) cat /root/regen-backup-<RANDOM>.tar.gz  # copied to the operator's machine
# (needs the run's own value) rm -f /root/regen-backup-<RANDOM>.tar.gz

# --- step 1.4: delete the ssldir and the cadir
sh -c 'for s in puppet puppetserver; do service $s status >/dev/null 2>&1 && { service $s stop || exit 1; }; done; exit 0'
rm -rf "${SSLDIR}" "${CADIR}"

# --- step 1.5: new CA and master cert (`puppetserver ca setup`, its alt names)
cat "${CADIR}/ca_crt.pem"  # WAIT: sent 3 times in the rehearsal, until it showed what the step awaits; exited 1 in the rehearsal: expected; copied to the operator's machine
sh -c 'for s in puppet puppetserver; do service $s status >/dev/null 2>&1 && { service $s stop || exit 1; }; done; exit 0'
rm -rf "${SSLDIR}" "${CADIR}"
puppetserver ca setup --certname puppet.lan --subject-alt-names puppet
chown -R puppet:puppet "${CADIR}" "${SSLDIR}"
puppet config set autosign true --section server
cat "${CERTDIR}/puppet.lan.pem"  # copied to the operator's machine

# --- step 1.8: start Puppet Server
service puppetserver status  # exited 3 in the rehearsal: expected
service puppetserver start
cat "${CADIR}/ca_crt.pem"  # copied to the operator's machine

# --- step 1.9: start the master's agent service
sh -c 'service "$1" status >/dev/null 2>&1 || service "$1" start' sh puppet

# --- step 3: agents: stop, clean (with local CA and CRL), request, sign
sh -c 'for f in "$@"; do wc -l < "$f" 2>/dev/null || echo 0; done' sh /var/log/puppetserver/puppetserver.log /var/log/puppetserver/puppetserver-access.log
ls "${CADIR}/signed"
ls "${CADIR}/requests"
# (needs the run's own value) sh -c 'tail -n +"$1" "$3" 2>/dev/null | sed -n -e "$5" -e "$6"; tail -n +"$2" "$4" 2>/dev/null | sed -n "s|.*\"PUT /puppet-ca/v1/certificate_status/\([^ ?]*\)[^\"]*\" 204 .*|H \1|p"' sh <LOG_LINE> <LOG_LINE> /var/log/puppetserver/puppetserver.log /var/log/puppetserver/puppetserver-access.log 's/.*Signed certificate request for \([^ ]*\).*/S \1/p' 's/.* Entity [^ ]* signed [0-9]* certificates\{0,1\}: \(.*\)\.$/S \1/p'

# --- step 3.w: every agent's first run under the new CA reported
sh -c 'sed -n "$1" "$2"/*.conf 2>/dev/null | tail -n 1' sh 's/^[[:space:]]*server-var-dir[[:space:]]*[:=][[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' "${CONFDIR}/puppetserver/conf.d"
sh -c 'cd "$1" 2>/dev/null || exit 0; for d in */; do f=$(ls -t "$d" | head -n 1); [ -n "$f" ] || continue; printf "%s	%s	%s
" "${d%/}" "$(date -u -r "$d$f" +%Y-%m-%dT%H:%M:%S.%3NZ)" "$(sed -n "s/^status: *//p" "$d$f" | head -n 1)"; done' sh /var/lib/puppetserver/reports  # WAIT: sent 3 times in the rehearsal, until it showed what the step awaits
