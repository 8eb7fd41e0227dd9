"""The seed's procedure as ordered Steps, resumable through a state file.

Each Step has an id in the seed's numbering, a ``check`` that tells whether its effect
is already there, a ``run``, and a timing. The Procedure records every finished step in
a state file under the state folder: killed anywhere, it continues with ``resume``.

Step 1 (the master): back up, stop the agent and the server, wipe the ssldir and the
cadir, create the new CA and the master's cert with the old cert's alt names (or, when the
master has moved, its new name, which every re-enrolled host is then pointed at), start.
Step 2 (extensions): PostgreSQL's cert, the PuppetDB host re-enrolled and restarted; where
the site has MCollective, the ActiveMQ broker re-enrolled with its keystore and truststore
rebuilt, and a new MCollective server keypair and admin client cert.
Step 3 (agents): each agent stopped, cleaned (with its local CA and CRL), re-enrolled
(``puppet ssl bootstrap``, the requests signed on the CA as they arrive), concurrently with a
bound; 3.s starts them once PuppetDB is back; every ``mcollectived`` restarted (3.m).

The steps form a graph (``Step.needs``): once Puppet Server answers under the new CA,
PostgreSQL's cert and PuppetDB's host (2.1, 2.2) go side by side; then PuppetDB's start
(2.5), the broker (2.3), the MCollective keys (2.4) and the agents' re-enrolment (3); the
agents' services (3.s) and the master's agent (1.9) start once PuppetDB is back, since
their first runs store facts and reports there.

The package, by part of the procedure: ``common`` (re-enrolment, the CA's fingerprint),
``record`` (step 0), ``master`` (step 1), ``services`` (step 2 and 3.m), ``agents`` (step 3),
``extend`` (the extension), ``plan`` (the tables of steps), ``options`` (a run's options
checked) and ``running`` (a run, new or resumed).
"""
