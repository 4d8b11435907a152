"""Running the archive: init, demo, backup/restore, check, maintain, file modes, health probes."""
