"""Full-text search of the archive: the bridge to the `search` library, the outbox indexer, pages, API, CLI."""
