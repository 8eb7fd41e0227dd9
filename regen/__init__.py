"""Regen Lab: rehearse the regeneration of every certificate of a Puppet deployment.

The library holds the logic; the front only parses arguments and calls it. Its folders are
layers, each importing only those after it in this list:

- :mod:`regen.front`      the commands: invoke's tasks (``tasks.py`` in the checkout, the
                          ``regenlab`` command once installed).
- :mod:`regen.jobs`       what a user asks for end to end: a rehearsal, a scenario, the benchmark.
- :mod:`regen.scenarios`  the scenario format (validated YAML) and its runner.
- :mod:`regen.lab`        Docker: the engine, the images, a Lab of Nodes, the ``docker exec`` executor.
- :mod:`regen.procedure`  the regeneration with no Docker in it: site, steps, runner, proof, report.
- :mod:`regen.ops`        an operator's commands on a host (puppet, puppetdb, postgres, mcollective, pki),
                          and the external root (rootca).
- :mod:`regen.core`       errors, config, progress, the Executor protocol, waiting, private files.

``docs/architecture.md`` draws the arrows and says where to add a step, a fault or a proof.
"""

__version__ = "0.1.0"
