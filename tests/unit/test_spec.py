from __future__ import annotations

import pytest

from regen.core.errors import BadInput
from regen.lab.images import ORDER, PARENTS, _levels, image_tag
from regen.lab.spec import LabSpec


def test_defaults_and_nodes():
    spec = LabSpec.parse("regenlab", "3")
    assert [(n.name, n.role) for n in spec.nodes()] == [
        ("postgres", "postgres"), ("server", "server"), ("puppetdb", "puppetdb"), ("broker", "broker"),
        ("agent-1", "agent"), ("agent-2", "agent"), ("agent-3", "agent")]
    server = next(n for n in spec.nodes() if n.role == "server")
    assert "puppet" in server.aliases


@pytest.mark.parametrize("agents", ["0", "-1", "201", "abc", "", "2.5"])
def test_bad_agent_counts_are_refused(agents):
    with pytest.raises(BadInput, match="--agents"):
        LabSpec.parse("x", agents)


@pytest.mark.parametrize("name", ["", "Bad Name", "-x", "a/b", "UPPER", "x" * 41])
def test_bad_names_are_refused(name):
    with pytest.raises(BadInput, match="not valid"):
        LabSpec.parse(name, 1)


def test_unknown_suite_is_refused():
    with pytest.raises(BadInput, match="unknown suite"):
        LabSpec.parse("x", 1, suite="sid")


def test_image_tags_follow_content_and_parent():
    a = image_tag("agent", "bookworm", "sha256:parent1")
    assert a == image_tag("agent", "bookworm", "sha256:parent1")
    assert a != image_tag("agent", "bookworm", "sha256:parent2")
    assert a != image_tag("agent", "trixie", "sha256:parent1")
    assert a.startswith("regenlab/agent:bookworm-")


def test_every_image_is_built_after_its_parent():
    levels = _levels(list(ORDER))
    level_of = {name: i for i, level in enumerate(levels) for name in level}
    assert sorted(level_of) == sorted(ORDER)
    for name in ORDER:
        parent = PARENTS[name]
        assert parent is None or level_of[parent] < level_of[name]


def test_a_role_is_one_type_with_its_image_folder_and_its_files():
    from regen.core.config import IMAGES_DIR
    from regen.ops import puppet
    from regen.procedure.roles import ROLES, cert_paths

    for role in ROLES.values():
        assert (IMAGES_DIR / role.image / "Dockerfile").exists(), role.name
    assert {n.role for n in LabSpec(agents=2).nodes()} == set(ROLES) - {"compiler"}  # compilers: a site's
    from regen.sites.format import find
    assert {n.role for n in LabSpec.of_site(find("compilers")).nodes()} == set(ROLES)
    assert cert_paths("postgres", "postgres", None) == ("/etc/postgresql/ssl/postgres.crt",
                                                        "/etc/postgresql/ssl/ca.pem")
    assert cert_paths("agent", "agent-1", puppet.DEBIAN) == (puppet.DEBIAN.hostcert("agent-1"),
                                                             puppet.DEBIAN.localcacert)
    assert ROLES["server"].aliases == ("puppet",) and {r.port for r in ROLES.values()} == {8140, 8081, None}


def test_a_lab_of_a_site_file_has_its_names_aliases_versions_and_roles():
    from regen.sites.format import find

    small = LabSpec.of_site(find("small"))
    assert small.name == "small" and small.suite == "bookworm" and small.mcollective
    assert [(n.name, n.role, n.aliases) for n in small.nodes()] == [
        ("pg.example.com", "postgres", ()), ("puppet.example.com", "server", ("puppet",)),
        ("puppetdb.example.com", "puppetdb", ()), ("activemq.example.com", "broker", ("broker",)),
        *((a, "agent", ()) for a in ("web01.example.com", "web02.example.com", "db01.example.com",
                                     "mail.example.com", "backup.example.com"))]
    assert small.server_alt_names == ("puppet",)
    p8 = LabSpec.of_site(find("puppet8"), name="p8lab")
    assert (p8.name, p8.suite, p8.suite_of("agent"), p8.mcollective) == ("p8lab", "trixie", "trixie", False)
    assert "broker" not in {n.role for n in p8.nodes()}
    # a mixed fleet: each agent on its own group's suite (bookworm's Puppet 7), the servers on trixie
    assert {n.name: p8.suite_of_node(n) for n in p8.nodes() if n.role == "agent"} == {
        **{f"app{i}.example.net": "trixie" for i in (1, 2, 3)},
        **{f"legacy{i}.example.net": "bookworm" for i in (1, 2)}}
    assert {p8.suite_of_node(n) for n in p8.nodes() if n.role != "agent"} == {"trixie"}


def test_a_lab_of_a_site_without_puppetdb_has_no_puppetdb_nor_postgres_and_boots_its_master_idle():
    from regen.sites.format import find

    spec = LabSpec.of_site(find("minimal"))
    assert [(n.name, n.role) for n in spec.nodes()] == [("puppet.lan", "server"), ("ws1.lan", "agent"),
                                                        ("ws2.lan", "agent")]
    assert not spec.mcollective
    # its configs drop PuppetDB before Puppet Server first starts (lab._wire, then _provision)
    assert spec.env_of(spec.nodes()[0])["REGENLAB_BOOT"] == ""
    assert "REGENLAB_BOOT" not in LabSpec.of_site(find("small")).env_of(LabSpec.of_site(find("small")).nodes()[1])


def test_a_sites_agents_know_the_broker_by_its_certname_from_boot():
    # written by the agent's boot script, not edited in after start (that raced it: CI, one agent of five)
    from regen.sites.format import find

    spec = LabSpec.of_site(find("small"))
    envs = {n.name: spec.env_of(n) for n in spec.nodes()}
    assert {envs[a].get("REGENLAB_BROKER") for a in spec.site.agents} == {"activemq.example.com"}
    assert "REGENLAB_BROKER" not in envs["puppet.example.com"]


def test_what_the_lab_cannot_build_yet_is_refused_before_anything_starts(tmp_path):
    from regen.sites.format import load

    on_master = tmp_path / "m.yaml"
    on_master.write_text("master: {certname: m.x}\npuppetdb: {on_master: true, postgres: pg.x}\nagents: [a.x]\n")
    with pytest.raises(BadInput, match="PuppetDB on the master: not in the lab yet"):
        LabSpec.of_site(load(on_master))


def test_behind_compilers_every_host_asks_the_master_for_certs_and_puppet_for_catalogs():
    from regen.sites.format import find

    spec = LabSpec.of_site(find("compilers"))
    nodes = {n.name: n for n in spec.nodes()}
    compiler = nodes["compiler01.prod.example"]
    assert compiler.role == "compiler" and compiler.aliases == ("puppet", "puppet.prod.example")
    assert spec.env_of(compiler) == {"REGENLAB_COMPILER": "1", "REGENLAB_BOOT": "",
                                     "REGENLAB_DNS_ALT_NAMES": "puppet,puppet.prod.example",
                                     "REGENLAB_SERVER": "puppet", "REGENLAB_CA_SERVER": "ca.prod.example"}
    assert spec.env_of(nodes["ca.prod.example"]) == {"REGENLAB_DNS_ALT_NAMES": "ca.prod.example",
                                                     "REGENLAB_SERVER": "puppet",
                                                     "REGENLAB_CA_SERVER": "ca.prod.example"}
    assert spec.env_of(nodes["web01.prod.example"])["REGENLAB_CA_SERVER"] == "ca.prod.example"
    assert spec.env_of(nodes["postgres.prod.example"]) == {}
    assert LabSpec.parse("x", 1).env_of(LabSpec.parse("x", 1).nodes()[2]) == {}  # a lab of options: the images' own


def test_the_agents_keys_go_to_each_agents_boot_settings_and_nowhere_else(tmp_path):
    spec = LabSpec.parse("x", 2, agent_keys="rsa:2048")
    envs = {n.role: spec.env_of(n) for n in spec.nodes()}
    assert envs["agent"] == {"REGENLAB_KEY_TYPE": "rsa", "REGENLAB_KEYLENGTH": "2048"}
    assert "REGENLAB_KEYLENGTH" not in envs["server"]
    ec = LabSpec.parse("x", 1, suite="trixie", agent_keys="ec")
    assert ec.env_of(ec.nodes()[-1]) == {"REGENLAB_KEY_TYPE": "ec"}
    with pytest.raises(BadInput, match="pkeys are immutable on OpenSSL 3.0"):  # what bookworm's agent says
        LabSpec.parse("x", 1, agent_keys="ec")
    with pytest.raises(BadInput, match="--agent-keys 'rsa:1000': RSA keys of 2048, 3072"):
        LabSpec.parse("x", 1, agent_keys="rsa:1000")


def test_a_labs_keylength_reaches_every_puppet_host_and_the_agents_own_keys_win():
    spec = LabSpec.parse("x", 1, agent_keys="rsa:3072").with_keylength(2048)
    envs = {n.role: spec.env_of(n) for n in spec.nodes()}
    assert [envs[r]["REGENLAB_KEYLENGTH"] for r in ("server", "puppetdb", "broker", "agent")] == \
        ["2048", "2048", "2048", "3072"]
    assert "REGENLAB_KEYLENGTH" not in envs["postgres"]  # its cert is made on the CA, with the CA's keylength
    with pytest.raises(BadInput, match="keylength: RSA keys of 2048"):
        spec.with_keylength(1024)
