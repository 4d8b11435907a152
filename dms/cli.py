"""The `dms` command line: the group (dms.clibase.main) and which capability's `cli` module defines each of its
commands. Each such module registers its commands on the group when imported; a process imports only the modules of
the command it runs (dms.clibase.LazyGroup), `dms --help` imports them all. This is the one list of them; a command
missing here still works (an unknown name imports every module), and test_the_cli_map_names_every_command checks it."""
from dms.clibase import main

COMMANDS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("route", "deputy", "notify"), ("dms.approvals.cli",)),
    "certificates": ("dms.certificates.cli",),
    **dict.fromkeys(("get", "ingest", "transition"), ("dms.documents.cli",)),
    "folder": ("dms.documents.folders_cli",),
    **dict.fromkeys(("search", "indexer", "reindex"), ("dms.fulltext.cli",)),
    **dict.fromkeys(("backup", "restore"), ("dms.operations.backup_cli",)),
    **dict.fromkeys(("audit", "check", "demo", "init", "serve", "share", "worker"), ("dms.operations.cli",)),
    "user": ("dms.operations.cli", "dms.people.cli"),  # the group is operations', `dms user list` is people's
    "maintain": ("dms.operations.maintain_cli",),
    "group": ("dms.people.cli",),
    "records": ("dms.records.cli",),
    "register": ("dms.register.cli",),
    **dict.fromkeys(("pki", "sign", "verify"), ("dms.signatures.cli",)),
}
main.modules.update(COMMANDS)

__all__ = ["COMMANDS", "main"]
