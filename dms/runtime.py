"""The parts one process works with: settings, database, object store. Built once per process."""
from __future__ import annotations

from functools import cached_property

from storage import ObjectStore, open_store

from dms.audit.service import LookupLog
from dms.config import Settings
from dms.db import Database

RUNTIME_KEY = "dms.runtime"


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.db = Database(settings.database_url, statement_timeout_s=settings.db_statement_timeout_s,
                           idle_in_transaction_timeout_s=settings.db_idle_tx_timeout_s)
        # Workflow guards get only a session; the ones that read bytes (agreements' signatures) find us here.
        self.db.sessionmaker.configure(info={RUNTIME_KEY: self})

    @cached_property
    def store(self) -> ObjectStore:
        return open_store(self.settings.storage_url)

    @cached_property
    def lookup_log(self) -> LookupLog:
        """This process's group commit of public lookups' audit events (dms.audit.service.LookupLog)."""
        return LookupLog(self.db)

    def close(self) -> None:
        self.db.dispose()
