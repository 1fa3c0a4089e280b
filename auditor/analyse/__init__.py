"""Analyse: tokenise a Page, match the YAML rules, weigh the ConText cues, propose candidate
claims and let the trained judge decide which are the page's own. Knows nothing of HTTP, files,
SQLite or output formats."""
