"""CLI commands, one module per capability; each registers itself on dms.cli.main."""
