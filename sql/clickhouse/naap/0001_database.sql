-- purpose: the NaaP analytics database.
-- writer:  the migrator (jobs/migrate.py) before any job starts.
CREATE DATABASE IF NOT EXISTS naap
