"""The procedure's names, each written once: its modes, its steps' ids (the seed's numbering,
``p.*`` a partial run's, ``e.*`` an extension's, ``r.*`` a rollback's), and what a step
changes, from which rollback, runbook and seed take their rules instead of lists of ids."""

from __future__ import annotations

from enum import Enum, StrEnum


class Mode(StrEnum):
    """What a run does (a state file's ``mode``; the proofs' and the plan's tables are by mode)."""

    FULL = "full"  # a new CA, every host re-enrolled
    PARTIAL = "partial"  # the CA kept, the agents named re-enrolled
    EXTEND = "extend"  # the CA's certs renewed with its own keys
    ROLLBACK = "rollback"  # a failed full run undone (the state file's mode once rolled back)


class Change(Enum):
    """What a step changes, as a rollback sees it."""

    NOTHING = "reads or keeps (facts, a backup on the controller): nothing to undo"
    SERVICES = "stops a service of the master: the rollback starts it again"
    MASTER = "the master's CA, cert, puppet.conf or services: step 1.1's backup restores them"
    HOSTS = "another server's TLS files: step 1.0's backup restores them"
    AGENTS_NAMED = "agents, each named in the state before it is stopped: no rollback once one is"
    AGENTS = "agents: no rollback once it began"

    @property
    def touches_agents(self) -> bool:
        return self in (Change.AGENTS, Change.AGENTS_NAMED)


class StepId(StrEnum):
    RECORD = "0"
    HOST_BACKUP = "1.0"
    MASTER_BACKUP = "1.1"
    STOP_MASTER_AGENT = "1.2"
    STOP_SERVER = "1.3"
    WIPE = "1.4"
    NEW_CA = "1.5"
    START_SERVER = "1.8"
    START_MASTER_AGENT = "1.9"
    POSTGRES = "2.1"
    PUPPETDB = "2.2"
    BROKER = "2.3"
    MCO_CREDENTIALS = "2.4"
    START_PUPPETDB = "2.5"
    COMPILERS = "2.6"
    AGENTS = "3"
    START_AGENTS = "3.s"
    AGENTS_BACK = "3.w"
    MCO_RESTART = "3.m"
    SIGNING_POLICY = "p.0"
    CA_CLEAN = "p.1"
    EXTEND = "e.1"
    DISTRIBUTE = "e.2"
    STOP_MASTER = "r.1"
    RESTORE = "r.2"
    START_OLD_SERVER = "r.3"
    RESTORE_HOSTS = "r.4"
    RESTART_MASTER_AGENT = "r.5"
