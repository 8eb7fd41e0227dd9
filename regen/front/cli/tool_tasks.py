"""The harness's own tools: `images.build`, `engine.ensure` and `engine.browser`, the
benchmarks (`bench.lab`, `bench.regen`) and the kill soak (`soak.kill`)."""


from __future__ import annotations

from invoke import Collection, Exit

from regen.core.config import DEFAULT_SUITE
from regen.core.console import table
from regen.core.errors import EXIT_PROOF_FAILED, EXIT_USAGE
from regen.core.progress import Progress
from regen.jobs import bench as bench_lib
from regen.jobs import soak as soak_lib
from regen.lab import engine as engine_lib
from regen.lab import images as images_lib
from regen.lab import spec as lab_spec

from .common import (
    NAME_HELP,
    SOAK_AGENTS,
    SOAK_HORIZON,
    SOAK_TRIALS,
    friendly,
    lab_name,
    task,
)


@task(name="build", help={"suite": "Debian suite: bookworm (Puppet 7) or trixie (Puppet 8)"})
@friendly
def build_images(c, suite=DEFAULT_SUITE):
    """Build the node images that are missing (cached by content hash)."""
    progress = Progress()
    built = images_lib.ensure_images(engine_lib.ensure(progress), suite, progress)
    print(table([(b.name, b.tag, "built" if b.built else "cached", f"{b.seconds:.1f}s") for b in built.values()],
                ["image", "tag", "", "time"]))


@task(name="browser")
@friendly
def ensure_browser(c):
    """Debian's chromium for the HTML report's screenshot test (installed where missing)."""
    print(f"chromium: {engine_lib.ensure_browser(Progress())}")


@task(name="ensure")
@friendly
def ensure_engine(c):
    """Make sure a Docker daemon answers (installs docker.io and starts dockerd as root on Debian)."""
    client = engine_lib.ensure(Progress())
    print(f"Docker engine {client.version()['Version']} answers")


@task(name="lab", help={"cold": "remove every Regen Lab image first and time a build from nothing",
                        "agents": "lab sizes to time, comma-separated (default: 3,10)",
                        "regen": "also time the full regeneration on each lab (default: yes)"})
@friendly
def bench_lab(c, cold=False, agents="3,10", regen=True):
    """Benchmark: image builds, lab up to all-ready, memory per container, the regeneration's steps."""
    try:
        sizes = [int(a) for a in str(agents).split(",") if a.strip()]
    except ValueError:
        raise Exit(f"error: --agents takes lab sizes like 3,10, not {agents!r}", code=EXIT_USAGE) from None
    bench_lib.run(cold=cold, sizes=sizes, regen=regen)


@task(name="regen", help={"agents": "lab sizes, comma-separated (default: 3,10,30,100)",
                          "seed_at": "the size at which the seed's literal sequence also runs (default: 10; 0: none)",
                          "agent_keys": "the agents' keys, comma-separated: default (Puppet's, RSA 4096), rsa:2048, "
                                        "rsa:3072, ec; each is run at every size (default: default)",
                          "keylength": "every host's RSA keys (the CA's too), comma-separated bits: 0 (Puppet's, "
                                       "4096), 2048, ...; each is run at every size (default: 0)"})
@friendly
def bench_regen(c, agents="3,10,30,100", seed_at=10, agent_keys="default", keylength="0"):
    """Benchmark of the regeneration per lab size: lab up, each step, downtime, marginal agent, CPU, memory.

    Beside it, the seed's literal sequence on the same lab."""
    try:
        sizes = [int(a) for a in str(agents).split(",") if a.strip()]
        seed_size = int(seed_at)
        bits = tuple(int(b) for b in str(keylength).split(",") if b.strip()) or (0,)
    except ValueError:
        raise Exit(f"error: --agents takes lab sizes like 3,10, --seed-at a size and --keylength bits, not "
                   f"{agents!r} / {seed_at!r} / {keylength!r}", code=EXIT_USAGE) from None
    keys = tuple(k.strip() for k in str(agent_keys).split(",") if k.strip()) or ("default",)
    for n in sizes:
        for k in keys:  # the same bounds as lab.up, before anything starts
            spec = lab_spec.LabSpec.parse(f"bench-{n}", n, agent_keys=k)
            for b in (b for b in bits if b):
                spec.with_keylength(b)  # a bad size refused here, before any lab starts
    bench_lib.regen(sizes, seed_size if seed_size in sizes else None, agent_keys=keys, keylengths=bits)


@task(name="kill", help={"trials": "how many kills (default: 30)",
                         "seed": "replay the kill instants of an earlier soak (printed at its start)",
                         "agents": "agents in the soak's lab (default: 1)",
                         "horizon": "kills fall in [0, HORIZON) seconds after the run starts (default: 60)",
                         "name": NAME_HELP, "keep": "keep the lab afterwards",
                         "disturb": "kill,node,engine (default: all three): every 10th trial restarts the engine "
                                    "(this machine's own dockerd only; every lab on it restarts), every 5th from the "
                                    "3rd a node, the others kill",
                         "first": "replay from this trial (with --seed: the trials before it are drawn, not run)"})
@friendly
def soak_kill(c, trials=SOAK_TRIALS, seed=None, agents=SOAK_AGENTS, horizon=SOAK_HORIZON, name="", keep=False,
              disturb="kill,node,engine", first=1):
    """The kill-anywhere soak: runs killed or disturbed at random instants, then resumed or rolled back.

    regen.run SIGKILLed, a node or the engine restarted; each trial's proof passes, every backup whole."""
    name = lab_name(c, name)
    lab_spec.check_name(name)
    kinds = tuple(k.strip() for k in disturb.split(",") if k.strip())
    if not kinds or set(kinds) - set(soak_lib.DISTURBANCES):
        raise Exit(f"error: --disturb takes some of {','.join(soak_lib.DISTURBANCES)}, not {disturb!r}",
                   code=EXIT_USAGE)
    try:
        n, count, span = int(trials), int(agents), float(horizon)
        replay = None if seed is None else int(seed)
    except ValueError:
        raise Exit("error: --trials, --agents and --seed take whole numbers, --horizon seconds", code=EXIT_USAGE) \
            from None
    lab_spec.LabSpec.parse(name, count)
    try:
        start = int(first)
    except ValueError:
        raise Exit(f"error: --first takes a trial's number, not {first!r}", code=EXIT_USAGE) from None
    done = soak_lib.kill_soak(n, replay, count, span, name, keep, disturbances=kinds, first=start)
    if len(done) < n - start + 1 or not all(t.passed for t in done):
        raise Exit("the soak lost something: see the trial that failed above", code=EXIT_PROOF_FAILED)


images = Collection("images", build_images)
engine = Collection("engine", ensure_engine, ensure_browser)
bench = Collection("bench", bench_lab, bench_regen)
soak = Collection("soak", soak_kill)
