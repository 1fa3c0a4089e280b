"""Store: the SQLite store of runs, sites, pages and findings, and the batch runner that streams
finished sites into it (resumable, exactly once)."""
