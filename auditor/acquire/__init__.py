"""Acquire: get documents (crawl a site politely into a WARC, read local files, stdin or WARC
records) and extract each one's visible text into a Page. Nothing here knows of rules or scores."""
