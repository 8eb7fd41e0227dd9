"""Real hosts reached over SSH: the executor of production runs."""
