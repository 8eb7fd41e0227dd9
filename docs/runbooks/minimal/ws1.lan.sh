#!/bin/sh
# regenerating every certificate of /work/main/examples/minimal.yaml (master puppet.lan (alt names puppet); no PuppetDB; no MCollective; 2 agents; Puppet 7; signing autosign): the commands on ws1.lan (agent, certname ws1.lan), step by step.
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
date +%s.%N
service puppet status
sh -c 'PATH="/opt/puppetlabs/puppet/bin:$PATH" ruby -e '"'"'require "puppet/version"; puts Puppet.version'"'"' 2>/dev/null || PATH="$PATH:/opt/puppetlabs/bin" exec puppet --version'
sh -c 'PATH="$PATH:/opt/puppetlabs/bin" exec puppet config print "$@" --section server' sh ssldir certdir privatekeydir publickeydir localcacert hostcrl cadir confdir
cat "${CERTDIR}/ws1.lan.pem"  # copied to the operator's machine

# --- step 0: record the old CA, the master's alt names, one agent's old credentials
cat "${CERTDIR}/ws1.lan.pem"  # copied to the operator's machine
sh -c 'umask 077 && mkdir -p "$1" && cp "$2" "$1/cert.pem" && cp "$3" "$1/key.pem"' sh /root/regen-old-credentials "${CERTDIR}/ws1.lan.pem" "${PRIVATEKEYDIR}/ws1.lan.pem"

# --- step 3: agents: stop, clean (with local CA and CRL), request, sign
service puppet stop
sh -c 'rm -rf "$1"/*' sh "${SSLDIR}"
puppet ssl bootstrap --waitforcert=1 --maxwaitforcert=77 --color=false

# --- step 3.s: agents' services started (once PuppetDB is back)
sh -c 'service "$1" status >/dev/null 2>&1 || service "$1" start' sh puppet
