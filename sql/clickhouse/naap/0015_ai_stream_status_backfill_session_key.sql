-- purpose: schema evolution, phase 2 of 3: backfill ai_stream_status.session_key for the rows
--          written before the job sent it (NULL since 0014).
-- release: only once every writer sends session_key (the naap_ingest version that writes it
--          runs everywhere): rows inserted after this mutation started are not touched by it.
-- how:     a mutation (rewrites the parts that hold NULLs, in the background on a server).
--          Mutations are asynchronous by default: mutations_sync = 2 (also set by the migrator
--          for every file) waits until it finished on every replica, so the ledger records this
--          file only when the backfill is really done. Idempotent: it only touches NULL rows.
--          The value is the same expression the job writes (jobs/naap_ingest.py).
-- next:    0016 enforces the column; release it only after this file ran on every database.
ALTER TABLE naap.ai_stream_status
    UPDATE session_key = concat(stream_id, '|', request_id)
    WHERE session_key IS NULL
SETTINGS mutations_sync = 2
