"""Regen Lab: rehearse the regeneration of every certificate of a Puppet deployment.

The library holds the logic; ``tasks.py`` (invoke) only parses arguments and calls it.

- :mod:`regen.engine`   makes sure a Docker daemon answers (installs and starts one where it may).
- :mod:`regen.images`   builds the node images from Debian packages, cached by content hash.
- :mod:`regen.executor` runs an operator's commands on a node (``docker exec`` here, SSH later).
- :mod:`regen.puppet`   the operator's Puppet commands (CA, agents, services, PuppetDB queries).
- :mod:`regen.pki`      certificates read with ``cryptography``: fingerprints, chains.
- :mod:`regen.lab`      a Lab: a named, labelled set of Nodes on its own network; up/status/down.
- :mod:`regen.site`     the hosts the procedure works on, by their part (no Docker in it).
- :mod:`regen.procedure` the seed's procedure as Steps with checks, resumable through a state file.
- :mod:`regen.proof`    what proves the regeneration; :mod:`regen.report` the Report of a run.
- :mod:`regen.rehearsal` the main job end to end; :mod:`regen.bench` the benchmark.
"""

__version__ = "0.1.0"
