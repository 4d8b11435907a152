"""open_store(url): the one way to get a store from configuration."""
from __future__ import annotations

from pathlib import Path
from collections.abc import Callable
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from .errors import InvalidStoreURL
from .filesystem import FileStore
from .interface import ObjectStore

BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
S3_OPTIONS = frozenset({"secure", "region", "create_bucket", "object_lock", "retention", "spool_dir",
                        "connect_timeout", "read_timeout"})


def open_store(url: str) -> ObjectStore:
    """file:///absolute/path  or
    s3://ACCESS:SECRET@host:port/bucket?secure=false&region=us-east-1&create_bucket=true
    (further options: object_lock=true when creating the bucket, retention=governance|compliance,
    spool_dir=/path for the temporary upload files, connect_timeout=2 and read_timeout=10 in seconds)."""
    parts = urlsplit(url)
    opener = STORE_OPENERS.get(parts.scheme)
    if opener is None:
        known = ", ".join(f"{scheme}://" for scheme in STORE_OPENERS)
        raise InvalidStoreURL(f"unknown store URL scheme {parts.scheme!r}: use one of {known}")
    return opener(parts)


def _open_file_store(parts: SplitResult) -> ObjectStore:
    if parts.netloc not in ("", "localhost") or parts.query:
        raise InvalidStoreURL("a filesystem store URL is file:///absolute/path, without host or query")
    path = Path(unquote(parts.path))
    if not path.is_absolute():
        raise InvalidStoreURL("a filesystem store URL needs an absolute path: file:///absolute/path")
    return FileStore(path)


def _open_s3_store(parts: SplitResult) -> ObjectStore:
    from .s3 import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, RETENTION_MODES, S3Settings, S3Store  # only here
    if not parts.hostname:
        raise InvalidStoreURL("an S3 store URL needs a host: s3://ACCESS:SECRET@host:port/bucket")
    bucket = parts.path.strip("/")
    if not bucket or "/" in bucket:
        raise InvalidStoreURL("an S3 store URL names exactly one bucket: s3://host:port/bucket")
    options = _single_values(parse_qs(parts.query, keep_blank_values=True))
    unknown = set(options) - S3_OPTIONS
    if unknown:
        raise InvalidStoreURL(f"unknown S3 store options: {', '.join(sorted(unknown))}")
    try:
        port = parts.port
    except ValueError:
        raise InvalidStoreURL("the port of the S3 store URL is not a number") from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    spool_dir = options.get("spool_dir")
    retention = options.get("retention", "governance").lower()
    if retention not in RETENTION_MODES:
        raise InvalidStoreURL(f"S3 store option retention must be governance or compliance, not {retention!r}")
    return S3Store(
        S3Settings(
            endpoint=f"{host}:{port}" if port else host,
            bucket=bucket,
            access_key=unquote(parts.username) if parts.username else None,
            secret_key=unquote(parts.password) if parts.password else None,
            secure=_boolean(options, "secure", True),
            region=options.get("region") or None,
            create_bucket=_boolean(options, "create_bucket", False),
            object_lock=_boolean(options, "object_lock", False),
            retention_mode=retention,
            spool_dir=Path(spool_dir) if spool_dir else None,
            connect_timeout=_seconds(options, "connect_timeout", CONNECT_TIMEOUT_SECONDS),
            read_timeout=_seconds(options, "read_timeout", READ_TIMEOUT_SECONDS),
        )
    )


def _seconds(options: dict[str, str], name: str, default: float) -> float:
    if name not in options:
        return default
    try:
        value = float(options[name])
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise InvalidStoreURL(f"S3 store option {name} must be a number of seconds, not {options[name]!r}")
    return value


def _single_values(query: dict[str, list[str]]) -> dict[str, str]:
    repeated = [name for name, values in query.items() if len(values) > 1]
    if repeated:
        raise InvalidStoreURL(f"S3 store options given twice: {', '.join(sorted(repeated))}")
    return {name: values[0] for name, values in query.items()}


def _boolean(options: dict[str, str], name: str, default: bool) -> bool:
    if name not in options:
        return default
    value = BOOLEANS.get(options[name].lower())
    if value is None:
        raise InvalidStoreURL(f"S3 store option {name} must be true or false, not {options[name]!r}")
    return value


STORE_OPENERS: dict[str, Callable[[SplitResult], ObjectStore]] = {
    "file": _open_file_store,
    "s3": _open_s3_store,
}
