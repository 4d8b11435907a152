"""The `dms` command line: the group (dms.clibase.main) with every capability's commands registered on it. Each
capability's `cli` module registers its commands when imported; this is the one list of them."""
from dms.clibase import main
from dms.approvals import cli as _approvals  # noqa: F401  (dms route, dms deputy, dms notify)
from dms.certificates import cli as _certificates  # noqa: F401
from dms.documents import cli as _documents, folders_cli as _folders  # noqa: F401
from dms.fulltext import cli as _search  # noqa: F401  (search, indexer, reindex)
from dms.operations import backup_cli as _backup, cli as _admin, maintain_cli as _maintain  # noqa: F401
from dms.people import cli as _people  # noqa: F401  (dms group, dms user list)
from dms.records import cli as _records  # noqa: F401
from dms.register import cli as _register  # noqa: F401
from dms.signatures import cli as _signing  # noqa: F401

__all__ = ["main"]
