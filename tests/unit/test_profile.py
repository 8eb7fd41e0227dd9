"""The regeneration profile's classification of a lab's processes, and the sampler that reads
them from /proc: a busy process started inside the sampled cgroup is seen with its CPU time."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from regen.lab.profile import Sampler, kind_of

CA_CLI = "Ruby: puppetserver ca (key, CSR, signing)"


@pytest.mark.parametrize(("cmdline", "kind"), [
    ("/usr/bin/java -Xms256m -cp /var/cache/regenlab/classes:/usr/share/puppetserver/puppetserver.jar "
     "clojure.main -m puppetlabs.trapperkeeper.main", "JVM: Puppet Server"),
    ("java -Xmx192m -cp /usr/share/puppetdb/puppetdb.jar clojure.main -m puppetlabs.puppetdb.core",
     "JVM: PuppetDB"),
    ("/usr/bin/java -Dactivemq.home=/usr/share/activemq -jar /usr/share/activemq/bin/activemq.jar start",
     "JVM: ActiveMQ"),
    ("keytool -importcert -keystore /etc/activemq/instances-enabled/main/truststore.jks", "JVM: keytool"),
    ("/usr/bin/ruby /usr/bin/puppet ssl bootstrap --waitforcert 2", "Ruby: puppet ssl (key, CSR, cert)"),
    ("/usr/bin/ruby /usr/bin/puppet agent -t --server puppet", "Ruby: puppet agent run (-t / --onetime)"),
    ("/usr/bin/ruby /usr/bin/puppet agent --onetime --no-daemonize", "Ruby: puppet agent run (-t / --onetime)"),
    ("/usr/bin/ruby /usr/bin/puppet agent", "Ruby: puppet agent daemon"),
    ("/usr/bin/ruby /usr/bin/puppetserver ca generate --certname mco-server", CA_CLI),
    ("/usr/bin/ruby /usr/share/puppetserver/cli/apps/ca generate --certname admin", CA_CLI),
    ("/usr/bin/ruby /usr/bin/facter --json", "Ruby: facter"),
    ("/usr/bin/ruby /usr/sbin/mcollectived --pidfile /run/mcollective.pid", "Ruby: mcollectived"),
    ("/usr/bin/ruby /usr/bin/mco ping", "Ruby: mco client"),
    ("/usr/bin/ruby /usr/bin/puppet config print ssldir", "Ruby: puppet (other)"),
    ("postgres: 15/main: puppetdb puppetdb 127.0.0.1(5432) idle", "PostgreSQL"),
    ("openssl x509 -noout -in /etc/puppetlabs/puppet/ssl/certs/ca.pem", "openssl"),
    ("curl -sk https://puppet:8140/status/v1/simple", "curl"),
    ("timeout -k 5 300 puppet agent --test --color=false", "Ruby: puppet agent run (-t / --onetime)"),
    ("timeout 8 openssl s_client -quiet -connect puppet:8140 -cert /etc/puppetlabs/puppet/ssl/certs/a.pem",
     "openssl"),
    ("tar -C / -czf - etc/puppetlabs/puppet", "shell, tar and tools"),
    ("sh -c service puppet status", "shell, tar and tools"),
])
def test_each_process_of_a_regeneration_is_named_by_its_kind(cmdline, kind):
    assert kind_of(cmdline) == kind


def test_the_sampler_sees_a_busy_process_of_the_cgroup_with_its_cpu_time():
    # the cgroup this test runs in stands for a lab container's: its path is what the sampler
    # looks for in each process's /proc/<pid>/cgroup
    mine = Path("/proc/self/cgroup").read_text().strip().splitlines()[-1].split(":", 2)[2]
    busy = "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done"
    with Sampler({mine: "node"}, interval=0.05) as sampler:
        subprocess.run(["/bin/sh", "-c", busy], check=True)
    shells = {kind: (cpu, n) for kind, cpu, n in sampler.profile.by_kind()}["shell, tar and tools"]
    assert shells[0] >= 0.2, shells  # the loop spends about a second of CPU here
    assert shells[1] >= 1
    assert sampler.profile.total() >= shells[0]


def test_a_process_of_another_cgroup_is_not_counted():
    with Sampler({"no-such-container-id-0123456789abcdef": "node"}, interval=0.05) as sampler:
        subprocess.run(["/bin/sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"], check=True)
    assert sampler.profile.by_kind() == []
