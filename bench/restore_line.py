"""Restore of an archive holding one huge JSON line (issue 16: "one 300 MB JSON line in a restore takes 1.28 GB"):
peak memory of the real `dms restore` process, beside the restore of the same archive without the line.

    .venv/bin/python bench/restore_line.py [--line-mb 300]

Makes a scratch archive (`dms init`, `dms backup`), appends one line of --line-mb MB to db/users.jsonl, re-hashes and
re-seals the manifest with the backup key (a forger who holds the key: the manifest check passes, so the line
reaches the row reader), then runs `dms restore` into an empty data dir and reads its peak RSS (VmHWM) while it
runs. The restore must refuse the line (DMS_RESTORE_MAX_LINE_MB, 64 by default) in bounded memory and write nothing.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DMS = str(Path(sys.executable).with_name("dms"))


def env_for(data_dir: Path, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMS_")}
    env.update(DMS_DATA_DIR=str(data_dir), DMS_BACKUP_KEY=key, DMS_ARGON2_PROFILE="CHEAPEST", DMS_SECRET_KEY="x" * 32)
    return env


def run_measured(args: list[str], env: dict[str, str]) -> tuple[int, float, float, str]:
    """(exit code, peak RSS in MB, seconds, last stderr line) of a command, VmHWM read every 20 ms."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.02)
    _out, err = proc.communicate()
    lines = [x for x in err.decode("utf-8", "replace").splitlines() if x.strip()]
    return proc.returncode, peak / 1024, time.perf_counter() - start, (lines[-1] if lines else "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--line-mb", type=int, default=300)
    args = ap.parse_args()
    from dms.operations.archive import seal_manifest
    print(os.popen("uptime").read().strip())
    key = "bench-restore-line-key-0123456789abcdef"
    with tempfile.TemporaryDirectory(prefix="pechat-restore-") as tmp:
        base = Path(tmp)
        source = base / "source"
        subprocess.run([DMS, "init"], env=env_for(source, key), check=True, capture_output=True)
        good = base / "good.tar"
        subprocess.run([DMS, "backup", str(good)], env=env_for(source, key), check=True, capture_output=True)
        with tarfile.open(good) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
        members["db/users.jsonl"] += b'["' + b"A" * (args.line_mb << 20) + b'"]\n'
        manifest = json.loads(members.pop("manifest.json"))
        manifest["members"] = {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for n, d in members.items()}
        members["manifest.json"] = json.dumps(seal_manifest(manifest, key.encode())).encode()
        forged = base / "forged.tar"
        with tarfile.open(forged, "w", format=tarfile.PAX_FORMAT) as out:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
        del members
        print(f"archive: {good.stat().st_size / 1e6:.1f} MB; with one {args.line_mb} MB line: "
              f"{forged.stat().st_size / 1e6:.1f} MB")
        code, peak, secs, _ = run_measured([DMS, "restore", str(good)], env_for(base / "target-good", key))
        print(f"baseline: restore of the archive without the line: exit {code}, peak RSS {peak:.0f} MB, {secs:.1f} s")
        code, peak, secs, last = run_measured([DMS, "restore", str(forged)], env_for(base / "target-forged", key))
        print(f"restore with the {args.line_mb} MB line: exit {code}, peak RSS {peak:.0f} MB, {secs:.1f} s; "
              f"stderr: {last}")
    print(os.popen("uptime").read().strip())


if __name__ == "__main__":
    main()
