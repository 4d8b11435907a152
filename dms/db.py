"""Engine and sessions. Plain SQLAlchemy 2 so that the web app, the CLI and the tests share one code path."""
from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, *, statement_timeout_s: int = 0, idle_in_transaction_timeout_s: int = 0) -> Engine:
    """SQLite waits up to 30 s for a lock (busy timeout). On PostgreSQL a statement is cancelled after
    `statement_timeout_s` and a session idle inside a transaction (a frozen worker holding a row lock) is ended
    after `idle_in_transaction_timeout_s` (0: no limit), set as connection options (issue 17.2)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.isolation_level = None  # let SQLAlchemy's events below drive BEGIN
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            # BEGIN IMMEDIATE takes the write lock up front: concurrent writers queue instead of failing
            # with "database is locked" half-way through, and number sequences stay gapless.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    options = " ".join(f"-c {name}={seconds * 1000}" for name, seconds in (
        ("statement_timeout", statement_timeout_s), ("idle_in_transaction_session_timeout",
                                                     idle_in_transaction_timeout_s)) if seconds > 0)
    connect_args: dict = {}
    if url.startswith("postgresql"):
        connect_args["connect_timeout"] = 5  # a database that does not answer fails a request in seconds
        if options:
            connect_args["options"] = options
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=connect_args)


class Database:
    def __init__(self, url: str, *, statement_timeout_s: int = 0, idle_in_transaction_timeout_s: int = 0):
        self.url = url
        self.engine = make_engine(url, statement_timeout_s=statement_timeout_s,
                                  idle_in_transaction_timeout_s=idle_in_transaction_timeout_s)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error."""
        s = self.sessionmaker()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()
