-- purpose: the Tor relay time-series database (issue 6; design: seeds/003 "Time-Series Schema v2").
-- grain:   n/a (database).
-- writer:  the migrator (jobs/migrate.py) before the tor_relays job starts.
CREATE DATABASE IF NOT EXISTS tor
