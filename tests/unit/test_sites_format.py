"""Site files: the shipped examples load; every mistake is refused with its file, line and
field before anything starts; agent patterns expand as a shell's brace ranges."""

from __future__ import annotations

from pathlib import Path

import pytest

from regen.core.errors import BadInput
from regen.sites import format as site

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))

GOOD = """\
master:
  certname: puppet.example.com
  dns_alt_names: [puppet]
puppetdb:
  certname: puppetdb.example.com
  postgres: pg.example.com
mcollective:
  broker: broker.example.com
agents:
  - web01.example.com
  - web02.example.com
"""


def write(tmp_path: Path, text: str, name: str = "mysite") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_the_examples_load_with_their_shapes():
    assert [p.stem for p in EXAMPLES] == ["compilers", "minimal", "puppet8", "small"]
    specs = {p.stem: site.load(p) for p in EXAMPLES}
    small, compilers, p8, minimal = specs["small"], specs["compilers"], specs["puppet8"], specs["minimal"]
    assert (minimal.puppetdb, minimal.postgres, minimal.broker) == ("", "", "")
    assert minimal.roles() == {"puppet.lan": "server", "ws1.lan": "agent", "ws2.lan": "agent"}
    assert (small.master.certname, small.master.dns_alt_names) == ("puppet.example.com", ("puppet",))
    assert small.broker == "activemq.example.com" and len(small.agents) == 5 and not small.autosign
    assert [c.certname for c in compilers.compilers] == ["compiler01.prod.example", "compiler02.prod.example"]
    assert compilers.compilers[0].dns_alt_names == ("puppet", "puppet.prod.example")
    assert compilers.agents == tuple(f"web0{i}.prod.example" for i in range(1, 5))
    assert compilers.reach["ca.prod.example"] == site.Reach("10.1.0.10", "admin", 22, True)
    assert (p8.puppet, p8.broker, p8.autosign) == (8, "", True)
    assert "no MCollective" in p8.topology() and "Puppet 8" in p8.topology()


def test_a_good_file_takes_its_name_from_the_file_and_defaults(tmp_path):
    spec = site.load(write(tmp_path, GOOD))
    assert (spec.name, spec.puppet, spec.agent_versions, spec.autosign) == ("mysite", 7, (7,), False)
    assert spec.hosts == ("puppet.example.com", "puppetdb.example.com", "pg.example.com", "broker.example.com",
                          "web01.example.com", "web02.example.com")


@pytest.mark.parametrize(("text", "error"), [
    (GOOD.replace("  certname: puppet.example.com\n", ""), ":2: master: missing field 'certname'"),
    (GOOD.replace("puppet.example.com", "Puppet_Master", 1), ":2: master.certname: 'Puppet_Master' is not a DNS"),
    (GOOD.replace("[puppet]", "[puppet, 'bad name']"), ":3: master.dns_alt_names[1]: 'bad name' is not a DNS"),
    (GOOD.replace("web02.example.com", "web01.example.com"), ":11: agents[1]: 'web01.example.com' is already "
                                                             "agents[0]"),
    (GOOD.replace("pg.example.com", "puppetdb.example.com"), ":6: puppetdb.postgres: 'puppetdb.example.com' is "
                                                             "already puppetdb.certname"),
    (GOOD + "signing: sometimes\n", ":12: signing: must be one of manual, autosign, not 'sometimes'"),
    (GOOD + "puppet: 6\n", ":12: puppet: Puppet 6 is not available"),
    (GOOD + "puppet: 8\n", ":8: mcollective: Debian's Puppet 8 ships no MCollective"),
    (GOOD + "colour: blue\n", ":12: colour: unknown field"),
    (GOOD.replace("puppetdb:\n  certname: puppetdb.example.com\n  postgres: pg.example.com\n", ""),
     ":1: site: missing field 'puppetdb'"),
    (GOOD.replace("  postgres: pg.example.com\n", ""), ":5: puppetdb: missing field 'postgres'"),
    (GOOD.replace("  certname: puppetdb.example.com\n", "  certname: puppetdb.example.com\n  on_master: true\n"),
     ":5: puppetdb: give its host's `certname`, or `on_master: true`"),
    (GOOD.replace("agents:\n  - web01.example.com\n  - web02.example.com\n", "agents:\n  pattern: w{5..1}.x\n"),
     ":10: agents.pattern: the range {5..1} counts down"),
    (GOOD.replace("agents:\n  - web01.example.com\n  - web02.example.com\n", "agents:\n  pattern: w{1..201}.x\n"),
     ":10: agents.pattern: the range {1..201} gives more than 200 names"),
    (GOOD.replace("agents:\n  - web01.example.com\n  - web02.example.com\n",
                  "agents:\n  names: [a.x]\n  pattern: w{1..2}.x\n"), ":10: agents: give `names`"),
    (GOOD + "compilers:\n  - certname: c1.example.com\n    ca_server: elsewhere.example.com\n",
     ":14: compilers[0].ca_server: must be the master's certname 'puppet.example.com'"),
    (GOOD + "connect:\n  stranger.example.com: {address: 10.0.0.1}\n", ":13: connect.stranger.example.com: "
                                                                        "unknown field"),
    (GOOD + "connect:\n  web01.example.com: {address: 10.0.0.1, port: 70000}\n",
     ":13: connect.web01.example.com.port: must be a TCP port"),
    (GOOD + "name: Not_A_Name\n", ":12: name: 'Not_A_Name' is not a DNS name"),
    (GOOD.replace("agents:\n  - web01.example.com\n  - web02.example.com\n",
                  "agents:\n  names: [a.x]\n  key_type: ec\n"),
     ":10: agents.key_type: Puppet 7's agents cannot make an EC"),
    (GOOD + "keylength: 1000\n", ":12: keylength: RSA keys of 2048, 3072, 4096, 8192 bits, not 1000"),
    (GOOD.replace("agents:\n  - web01.example.com\n  - web02.example.com\n",
                  "agents:\n  names: [a.x]\n  key_type: dsa\n"),
     ":11: agents.key_type: must be one of rsa, ec, not 'dsa'"),
    (GOOD.replace("agents:\n  - web01.example.com\n  - web02.example.com\n",
                  "agents:\n  names: [a.x]\n  keylength: 1024\n"),
     ":11: agents.keylength: RSA keys of 2048, 3072, 4096, 8192 bits, not 1024"),
    (GOOD.replace("agents:\n  - web01.example.com\n  - web02.example.com\n",
                  "agents:\n  names: [a.x]\n  key_type: ec\n  keylength: 2048\n"),
     ":12: agents.keylength: an EC key's size is its curve"),
    (GOOD + "x: !!python/object:os.system echo\n", ":12: YAML tags"),
    ("[" * 40, "nested deeper than 8 levels"),
    ("", ":1: the file is empty"),
])
def test_a_broken_site_file_is_refused_with_its_file_line_and_field(tmp_path, text, error):
    path = write(tmp_path, text)
    with pytest.raises(BadInput) as caught:
        site.load(path)
    assert str(caught.value).startswith(str(path)) and error in str(caught.value), str(caught.value)


@pytest.mark.parametrize(("pattern", "names"), [
    ("web{01..03}.x", ["web01.x", "web02.x", "web03.x"]),
    ("n{8..10}", ["n8", "n9", "n10"]),
    ("r{1..2}-c{1..2}", ["r1-c1", "r1-c2", "r2-c1", "r2-c2"]),
    ("plain.example", ["plain.example"]),
])
def test_a_pattern_expands_as_brace_ranges(pattern, names):
    assert site.expand(pattern) == names


def test_an_unknown_site_names_the_examples():
    with pytest.raises(BadInput, match="no such file .*compilers, minimal, puppet8, small"):
        site.find("nowhere")
    assert site.find("small").name == "small"


def test_agents_in_groups_keep_each_groups_version_and_keys(tmp_path):
    p8 = site.find("puppet8")
    assert [(g.names, g.puppet) for g in p8.agent_groups] == [
        (("app1.example.net", "app2.example.net", "app3.example.net"), 8),
        (("legacy1.example.net", "legacy2.example.net"), 7)]
    assert p8.agent_versions == (8, 7) and len(p8.agents) == 5 and p8.group_of("legacy2.example.net").puppet == 7
    assert "5 agents (3 Puppet 8; 2 Puppet 7)" in p8.topology()
    text = GOOD.replace("mcollective:\n  broker: broker.example.com\n", "mcollective: none\n").replace(
        "agents:\n  - web01.example.com\n  - web02.example.com\n",
        "puppet: 8\nagents:\n  - names: [a.x]\n    key_type: ec\n  - pattern: b{1..2}.x\n    puppet: 7\n"
        "    keylength: 2048\n")
    groups = site.load(write(tmp_path, text)).agent_groups
    assert [(g.names, g.puppet, str(g.keys)) for g in groups] == [(("a.x",), 8, "ec"),
                                                                   (("b1.x", "b2.x"), 7, "rsa:2048")]


@pytest.mark.parametrize(("groups", "error"), [
    ("  - names: [a.x]\n  - names: [a.x]\n", ":11: agents[1].names[0]: 'a.x' is already agents[0].names[0]"),
    ("  - names: [a.x]\n  - pattern: b{1..2}.x\n    puppet: 9\n", ":12: agents[1].puppet: Puppet 9 is not available"),
    ("  - names: [a.x]\n  - pattern: b{1..2}.x\n    key_type: ec\n",
     ":11: agents[1].key_type: Puppet 7's agents cannot make an EC key"),
    ("  - names: [a.x]\n  - colour: blue\n", ":11: agents[1].colour: unknown field"),
    ("  - names: [a.x]\n  - names: []\n", ":11: agents[1]: must list at least one agent's certname"),
])
def test_a_broken_agent_group_is_refused_with_its_index(tmp_path, groups, error):
    text = GOOD.replace("agents:\n  - web01.example.com\n  - web02.example.com\n", "agents:\n" + groups)
    with pytest.raises(BadInput) as caught:
        site.load(write(tmp_path, text))
    assert error in str(caught.value), str(caught.value)


def test_a_puppet8_group_with_mcollective_is_refused(tmp_path):
    text = GOOD.replace("agents:\n  - web01.example.com\n  - web02.example.com\n",
                        "agents:\n  - names: [a.x]\n  - names: [b.x]\n    puppet: 8\n")
    with pytest.raises(BadInput, match=":8: mcollective: Debian's Puppet 8 ships no MCollective"):
        site.load(write(tmp_path, text))


def test_the_agents_keys_are_puppets_own_settings_and_default_to_puppets(tmp_path):
    text = GOOD.replace("agents:\n  - web01.example.com\n  - web02.example.com\n",
                        "agents:\n  pattern: web{1..2}.example.com\n  keylength: 2048\n")
    keys = site.load(write(tmp_path, text)).agent_groups[0].keys
    assert (keys.settings(), str(keys)) == ({"keylength": "2048"}, "rsa:2048")  # key_type: Puppet's default, rsa
    assert site.load(write(tmp_path, GOOD)).agent_groups[0].keys.settings() == {}
    assert site.load(write(tmp_path, GOOD + "keylength: 2048\n")).keylength == 2048
    assert site.AgentKeys.parse("EC").settings() == {"key_type": "ec"} and str(site.AgentKeys.parse("")) == "default"
    assert site.AgentKeys.parse("rsa:3072") == site.AgentKeys("rsa", 3072)
    for bad in ("rsa:big", "ec:256", "rsa:1024", "dsa"):
        with pytest.raises(ValueError):
            site.AgentKeys.parse(bad)
