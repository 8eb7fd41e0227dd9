"""Scenarios: the YAML format and its validation (format), running one on a lab (runner)."""
