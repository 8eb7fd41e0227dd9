"""The procedure, with no Docker in it: the hosts by their part (site), the runner (Step,
Context, RunState, execute), the seed's steps, the proof, rollback, faults, the report."""
