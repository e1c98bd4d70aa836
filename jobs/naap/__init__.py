"""NaaP (Livepeer gateway events): the source, the shared parse, the ingest, metrics and analytics jobs."""
