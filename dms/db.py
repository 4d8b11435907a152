"""Engine and sessions. Plain SQLAlchemy 2 so that the web app, the CLI and the tests share one code path."""
from __future__ import annotations

import time
from contextlib import contextmanager
from collections.abc import Iterator

from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_engine(url: str, *, read_only: bool = False) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # let SQLAlchemy's events below drive BEGIN
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        if read_only:
            cur.execute("PRAGMA query_only=ON")  # the database itself refuses any write on this connection
        cur.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn):  # noqa: ANN001
        # BEGIN IMMEDIATE takes the write lock up front: concurrent writers queue instead of failing
        # with "database is locked" half-way through, and number sequences stay gapless. A read-only connection
        # (query_only, see Database.read_session) begins a deferred transaction: a WAL reader takes no lock, sees
        # one snapshot, and can never need the write lock later (it cannot write).
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def make_engine(url: str, *, statement_timeout_s: int = 0, idle_in_transaction_timeout_s: int = 0) -> Engine:
    """SQLite waits up to 30 s for a lock (busy timeout). On PostgreSQL a statement is cancelled after
    `statement_timeout_s` and a session idle inside a transaction (a frozen worker holding a row lock) is ended
    after `idle_in_transaction_timeout_s` (0: no limit), set as connection options (issue 17.2)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    options = " ".join(f"-c {name}={seconds * 1000}" for name, seconds in (
        ("statement_timeout", statement_timeout_s), ("idle_in_transaction_session_timeout",
                                                     idle_in_transaction_timeout_s)) if seconds > 0)
    connect_args: dict = {}
    if url.startswith("postgresql"):
        connect_args["connect_timeout"] = 5  # a database that does not answer fails a request in seconds
        if options:
            connect_args["options"] = options
    engine = create_engine(url, pool_size=10, max_overflow=20, connect_args=connect_args)
    _ping_when_idle(engine)
    return engine


# A pooled connection idle this long is pinged before it is handed out (a database restarted or a connection cut
# by a firewall meanwhile is replaced, not failed on); one in use moments ago is not — the ping was a round trip on
# every checkout, a fifth of a public lookup's (issue 20.2). A connection that died within the window fails its
# statement once; that error invalidates the pool (SQLAlchemy), so the next checkout connects afresh.
PING_AFTER_IDLE_S = 2.0


def _ping_when_idle(engine: Engine) -> None:
    """pool_pre_ping, for connections idle longer than PING_AFTER_IDLE_S only."""

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn, record, _proxy):  # noqa: ANN001
        if time.monotonic() - record.info.get("checked_in", 0.0) <= PING_AFTER_IDLE_S:
            return
        try:
            if not engine.dialect.do_ping(dbapi_conn):
                raise exc.DisconnectionError("the database connection did not answer a ping")
        except exc.DisconnectionError:
            raise
        except Exception as error:  # a dead connection: the pool discards it and checks out another
            if engine.dialect.is_disconnect(error, dbapi_conn, None):
                raise exc.DisconnectionError(str(error)) from error
            raise

    @event.listens_for(engine, "checkin")
    def _stamp(_dbapi_conn, record):  # noqa: ANN001
        record.info["checked_in"] = time.monotonic()


class Database:
    def __init__(self, url: str, *, statement_timeout_s: int = 0, idle_in_transaction_timeout_s: int = 0):
        self.url = url
        self.engine = make_engine(url, statement_timeout_s=statement_timeout_s,
                                  idle_in_transaction_timeout_s=idle_in_transaction_timeout_s)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessionmaker: sessionmaker | None = None
        self._autocommit_sessionmaker: sessionmaker | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def _readers(self) -> sessionmaker:
        """Sessions that may only read. On a SQLite file: their own engine whose connections are query_only and
        begin deferred (no write lock is taken, so a read never queues behind a writer nor holds writers up); a
        write through it fails in the database. On PostgreSQL: the same engine, each transaction READ ONLY."""
        if self._read_sessionmaker is None:
            memory = self.url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in self.url
            engine = _sqlite_engine(self.url, read_only=True) if self.is_sqlite and not memory else self.engine
            if engine.dialect.name == "postgresql":
                # The driver begins with "BEGIN READ ONLY" (one round trip, not BEGIN + SET TRANSACTION); the pool
                # resets the connection's read-only flag when it is returned.
                engine = engine.execution_options(postgresql_readonly=True)
            maker = sessionmaker(engine, expire_on_commit=False)

            @event.listens_for(maker, "before_flush")
            def _no_flush(session, _context, _instances):  # noqa: ANN001
                if session.new or session.dirty or session.deleted:
                    raise RuntimeError("a read-only session cannot write")

            self._read_sessionmaker = maker
        return self._read_sessionmaker

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A unit of work that only reads (e.g. a public lookup before its audit is written in the request's
        own session). Its objects stay loaded after it ends (expire_on_commit=False), detached."""
        s = self._readers()()
        try:
            yield s
            s.commit()  # ends the read transaction (nothing to write) without expiring what was loaded
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    @contextmanager
    def statement_reader(self) -> Iterator[Session]:
        """A session for ONE read statement that locks nothing (a public lookup before its audit event is written
        elsewhere). SQLite: a read-only session (deferred, query_only). PostgreSQL: autocommit_session — the
        statement is its own snapshot, with no BEGIN / COMMIT round trips (several statements would each see
        their own snapshot: use read_session for those)."""
        if self.is_sqlite:
            with self.read_session() as reader:
                yield reader
            return
        with self.autocommit_session() as session:
            yield session

    @contextmanager
    def autocommit_session(self) -> Iterator[Session]:
        """PostgreSQL only: each statement is its own transaction (one round trip; no BEGIN, no COMMIT). For one
        statement whose atomicity is all it needs (a lookup's read; a batch of lookup events in one INSERT)."""
        if self.is_sqlite:
            raise RuntimeError("autocommit sessions are for PostgreSQL (SQLite's connections begin their own)")
        if self._autocommit_sessionmaker is None:
            self._autocommit_sessionmaker = sessionmaker(self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                                                         expire_on_commit=False)
        s = self._autocommit_sessionmaker()
        try:
            yield s
        finally:
            s.close()

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
        if self._read_sessionmaker is not None:
            bind = self._read_sessionmaker.kw.get("bind")
            if bind is not None and bind is not self.engine:
                bind.dispose()
