"""Per-client sliding-window limits for the public endpoints (verification lookups, file checks, the TSA).

The limits are one table (LIMITS). The hits live in a small SQLite file in the data directory, shared by every web
worker of the host (gunicorn's N processes see one count, so a client gets the limit, not N times it). The file
holds nothing durable: it is written without fsync and may be deleted at any time.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from dms.idrange import digits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    per_window: int
    window_s: float = 60.0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if digits(raw) else default


# bucket -> limit per client address. Buckets are shared by the web page and the API doing the same work.
LIMITS: dict[str, Limit] = {
    "verify": Limit(_env_int("DMS_VERIFY_PER_MINUTE", 60)),  # certificate lookups by number or QR token
    "verify_file": Limit(10),    # an uploaded PDF checked (parsing and signature validation cost CPU)
    # the public page of a signed document (/verify/d/<token>, /verify/document/<id>): each view validates its PDF
    "verify_document": Limit(_env_int("DMS_VERIFY_DOCUMENT_PER_MINUTE", 60)),
    "tsa": Limit(_env_int("DMS_TSA_PER_MINUTE", 120)),     # RFC 3161 time-stamps signed for anyone
    # Failed logins. Counted per account AND address, so that someone guessing from one address is stopped
    # without locking the account's owner out; per address over all accounts, against password spraying. The
    # account itself is locked only after many more failures (dms.people.users.THROTTLE_AFTER).
    "login_pair": Limit(5, 15 * 60),
    "login_address": Limit(30, 15 * 60),
}

_SCHEMA = """CREATE TABLE IF NOT EXISTS hits (bucket TEXT NOT NULL, client TEXT NOT NULL, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS hits_client ON hits (bucket, client, ts);
CREATE INDEX IF NOT EXISTS hits_ts ON hits (ts);"""
MAX_WINDOW_S = 3600.0  # hits older than this are swept whatever their bucket
SWEEP_EVERY_S = 10.0  # per connection
# The client's hits in the window, counted up to the limit only.
_WINDOW = "SELECT 1 FROM hits WHERE bucket = ? AND client = ? AND ts > ? LIMIT ?"
_COUNT = f"SELECT COUNT(*) FROM ({_WINDOW})"
_COUNT_IF_WITHIN = f"INSERT INTO hits (bucket, client, ts) SELECT ?, ?, ? WHERE ({_COUNT}) < ?"


BUSY_TIMEOUT_S = 5.0  # how long a statement waits for another connection's write lock


def _set_up(con: sqlite3.Connection) -> None:
    """WAL, no fsync, the table. Switching a new file to WAL needs it unlocked, and SQLite answers "database is
    locked" at once instead of waiting (the busy timeout does not apply to it): connections of several threads or
    workers opening the new file together wait for each other here as a statement would, or the limiter's
    fail-open let a request through uncounted."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            con.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
    con.execute("PRAGMA synchronous=OFF")
    con.executescript(_SCHEMA)


class RateLimiter:
    """Sliding-window counting over a SQLite file shared between processes (one connection per thread)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            try:
                _set_up(con)
            except BaseException:
                con.close()
                raise
            self._local.con = con
        return con

    def _run(self, bucket: str, client: str, now: float | None, count_it: bool) -> bool:
        """True when `client` is within `bucket`'s limit; with `count_it`, this request is counted if it is. A
        broken or busy limiter file answers True (and logs): the limit guards, it must not take the service down
        with it.

        Counting is one statement: an INSERT … SELECT … WHERE the client's hits in the window are fewer than the
        limit. SQLite takes the write lock before the statement reads, so the check and the count are atomic across
        every worker process without a BEGIN … COMMIT round; the count stops at the limit (a client far over it
        costs no more than one at it). Hits older than MAX_WINDOW_S are swept at most every SWEEP_EVERY_S."""
        limit = LIMITS[bucket]
        now = time.time() if now is None else now
        since = now - limit.window_s
        try:
            con = self._connection()
            if now - getattr(self._local, "swept", 0.0) >= SWEEP_EVERY_S or now < self._local.swept:
                con.execute("DELETE FROM hits WHERE ts <= ?", (now - MAX_WINDOW_S,))
                self._local.swept = now
            if count_it:
                cur = con.execute(_COUNT_IF_WITHIN, (bucket, client, now, bucket, client, since, limit.per_window,
                                                     limit.per_window))
                return cur.rowcount == 1
            return con.execute(_COUNT, (bucket, client, since, limit.per_window)).fetchone()[0] < limit.per_window
        except sqlite3.Error as exc:
            log.warning("rate limiter %s unavailable (%s); request let through", self.path, exc)
            return True

    def allow(self, bucket: str, client: str, now: float | None = None) -> bool:
        """Count this request if it is within the limit; False when over it."""
        return self._run(bucket, client, now, count_it=True)

    def within(self, bucket: str, client: str, now: float | None = None) -> bool:
        """Whether `client` is still within the limit, counting nothing (e.g. before checking a password)."""
        return self._run(bucket, client, now, count_it=False)

    def take(self, bucket: str, client: str, now: float | None = None) -> float | None:
        """Count this attempt atomically if it is within the limit and return its time stamp (for give_back);
        None when over the limit. Counting before the work (a password check) is what bounds concurrent tries."""
        now = time.time() if now is None else now
        return now if self._run(bucket, client, now, count_it=True) else None

    def give_back(self, bucket: str, client: str, stamp: float) -> None:
        """Uncount an attempt taken with `take` (e.g. the login succeeded)."""
        try:
            con = self._connection()
            con.execute("DELETE FROM hits WHERE rowid IN (SELECT rowid FROM hits WHERE bucket = ? AND client = ? "
                        "AND ts = ? LIMIT 1)", (bucket, client, stamp))
        except sqlite3.Error as exc:
            log.warning("rate limiter %s unavailable (%s)", self.path, exc)

    def reset(self) -> None:
        self._connection().execute("DELETE FROM hits")


def for_app() -> RateLimiter:
    """The running Flask app's limiter: one file in its data directory, shared by every worker process."""
    from flask import current_app
    ext = current_app.extensions
    if "dms.ratelimiter" not in ext:
        ext["dms.ratelimiter"] = RateLimiter(ext["dms_runtime"].settings.data_dir / "ratelimit.sqlite3")
    return ext["dms.ratelimiter"]
