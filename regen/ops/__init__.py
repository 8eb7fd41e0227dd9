"""An operator's commands on a host, through an Executor: puppet, puppetdb, postgres,
mcollective, and pki (certificates, read with cryptography)."""
