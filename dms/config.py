"""Settings from the environment (DESIGN.md §6).

DMS_DATA_DIR (default ./var) holds everything of the embedded default; DMS_DATABASE_URL, DMS_STORAGE_URL
and DMS_INDEX_DIR override its parts.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from dms.idrange import digits


def secret_from_file(path: Path) -> str:
    """A secret generated once and kept in `path` (created 0600, never rewritten); the same value afterwards."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value


def _positive(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    return int(raw) if digits(raw) and int(raw) > 0 else default


def _seconds(env: dict[str, str], name: str, default: int) -> int:
    """A whole number of seconds, 0 allowed (no limit); anything else: the default."""
    raw = env.get(name, "").strip()
    return int(raw) if digits(raw) else default


def _count(env: dict[str, str], name: str) -> int:
    """DMS_TRUSTED_PROXIES: a count, or a list of proxy addresses separated by commas (its length counts)."""
    raw = env.get(name, "").strip()
    if digits(raw):
        return int(raw)
    return len([p for p in raw.split(",") if p.strip()])


SEARCH_BACKENDS = ("whoosh", "postgres")


def _search_backend(env: dict[str, str]) -> str:
    backend = env.get("DMS_SEARCH_BACKEND", "").strip().lower() or "whoosh"
    if backend not in SEARCH_BACKENDS:
        raise ValueError(f"DMS_SEARCH_BACKEND must be one of {', '.join(SEARCH_BACKENDS)}, not {backend!r}")
    return backend


@dataclass
class Settings:
    data_dir: Path
    database_url: str
    storage_url: str
    index_dir: Path
    secret_key: str = field(repr=False)
    max_upload_bytes: int = 200 * 1024 * 1024
    base_url: str = "http://127.0.0.1:5000"
    secure_cookies: bool = False
    token_ttl_hours: int = 8  # DMS_TOKEN_TTL_HOURS: an API token's lifetime
    session_idle_minutes: int = 60  # DMS_SESSION_IDLE_MINUTES: a web session unused this long ends
    session_max_hours: int = 12  # DMS_SESSION_MAX_HOURS: a web session ends this long after the login anyway
    # DMS_TRUSTED_PROXIES: how many reverse proxies in front of the app set X-Forwarded-For/-Proto/-Host
    # (Werkzeug's ProxyFix); 0 (default): the client is the remote address of the connection.
    trusted_proxies: int = 0
    trash_days: int = 30  # DMS_TRASH_DAYS: how long a trashed document can be restored before a purge destroys it
    # Root certificates (PEM or DER files) trusted for the second party's signature on agreements, besides our
    # own CA: DMS_TRUSTED_ROOTS, paths separated by os.pathsep.
    trusted_roots: tuple[Path, ...] = ()
    # Issue 17: PostgreSQL cancels a statement after DMS_DB_STATEMENT_TIMEOUT_S (default 60) and ends a session
    # idle in a transaction after DMS_DB_IDLE_TX_TIMEOUT_S (default 60); 0 turns either off.
    db_statement_timeout_s: int = 60
    db_idle_tx_timeout_s: int = 60
    # DMS_JOBS_URL: the job queue (dms.jobs): redis://host:6379/0 in production; empty: a SQLite file in the data dir.
    jobs_url: str = ""
    # DMS_SEARCH_BACKEND: "whoosh" (default: the index in index_dir, one host) or "postgres" (search.pg: tables
    # search_* in the application's PostgreSQL database, for several application hosts).
    search_backend: str = "whoosh"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("DMS_DATA_DIR", "./var")).resolve()
        # The session secret: DMS_SECRET_KEY, else one generated once into the data dir.
        secret = env.get("DMS_SECRET_KEY") or secret_from_file(data_dir / "secret_key")
        return cls(
            data_dir=data_dir,
            database_url=env.get("DMS_DATABASE_URL") or f"sqlite:///{data_dir / 'dms.sqlite3'}",
            storage_url=env.get("DMS_STORAGE_URL") or (data_dir / "objects").as_uri(),
            index_dir=Path(env.get("DMS_INDEX_DIR") or data_dir / "index"),
            secret_key=secret,
            max_upload_bytes=int(env.get("DMS_MAX_UPLOAD_MB", "200")) * 1024 * 1024,
            base_url=env.get("DMS_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
            secure_cookies=env.get("DMS_SECURE_COOKIES", "0") in ("1", "true", "yes"),
            token_ttl_hours=_positive(env, "DMS_TOKEN_TTL_HOURS", 8),
            session_idle_minutes=_positive(env, "DMS_SESSION_IDLE_MINUTES", 60),
            session_max_hours=_positive(env, "DMS_SESSION_MAX_HOURS", 12),
            trusted_proxies=_count(env, "DMS_TRUSTED_PROXIES"),
            trash_days=int(env["DMS_TRASH_DAYS"]) if digits(env.get("DMS_TRASH_DAYS", "").strip()) else 30,
            trusted_roots=tuple(Path(p) for p in env.get("DMS_TRUSTED_ROOTS", "").split(os.pathsep) if p.strip()),
            db_statement_timeout_s=_seconds(env, "DMS_DB_STATEMENT_TIMEOUT_S", 60),
            db_idle_tx_timeout_s=_seconds(env, "DMS_DB_IDLE_TX_TIMEOUT_S", 60),
            jobs_url=env.get("DMS_JOBS_URL", "").strip(),
            search_backend=_search_backend(env),
        )
