"""Files of the data directory are the owner's alone (issue 16): the directory 0700, every file in it 0600 (0400
where the store made an object read-only) — the database and its WAL/SHM, the search index, the rate-limit store,
backups, the PKI and the objects hold personal data, password hashes and encrypted keys.

The process umask (077, set by the CLI and the app at start) makes new files so; `dms init` fixes what an older
version or another tool left open (fix), and `dms check` reports it (wrong_modes).
"""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

OPEN_BITS = 0o077  # group and world
UMASK = 0o077


def restrict_umask() -> int:
    """Files and directories created by this process from now on are the owner's alone; returns the old umask."""
    return os.umask(UMASK)


def _walk(roots: list[Path]) -> Iterator[tuple[Path, os.stat_result]]:
    seen: set[Path] = set()
    for root in roots:
        root = root.resolve()
        if root in seen or not root.exists():
            continue
        seen.add(root)
        yield root, root.lstat()
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                st = path.lstat()
                if stat.S_ISLNK(st.st_mode):
                    continue
                yield path, st


def _roots(data_dir: Path, extra: list[Path] | None) -> list[Path]:
    return [data_dir, *(p for p in (extra or []) if not p.resolve().is_relative_to(data_dir.resolve()))]


def wrong_modes(data_dir: Path, extra: list[Path] | None = None, limit: int = 100) -> list[dict]:
    """Paths under the data dir (and `extra` dirs outside it, e.g. the index) that group or others may read."""
    found: list[dict] = []
    for path, st in _walk(_roots(data_dir, extra)):
        if st.st_mode & OPEN_BITS:
            found.append({"path": str(path), "mode": f"{stat.S_IMODE(st.st_mode):04o}",
                          "expected": "0700" if stat.S_ISDIR(st.st_mode) else "0600"})
            if len(found) >= limit:
                break
    return found


def fix(data_dir: Path, extra: list[Path] | None = None) -> int:
    """Take group and world bits away from everything under the data dir; directories become 0700. Returns how
    many paths were changed."""
    changed = 0
    for path, st in _walk(_roots(data_dir, extra)):
        mode = stat.S_IMODE(st.st_mode)
        wanted = 0o700 if stat.S_ISDIR(st.st_mode) else mode & 0o700
        if mode != wanted:
            os.chmod(path, wanted)
            changed += 1
    return changed
