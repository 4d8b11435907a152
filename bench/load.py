"""Mixed load against `dms serve --workers N` on loopback (issue 17.2/17.6): requests per second and p50/p95/p99 at
4, 16 and 32 clients, beside GET /healthz probed in the same run.

    .venv/bin/python bench/load.py [--levels 4,16,32] [--seconds 10] [--workers 2] [--threads 8]
                                   [--certificates 60] [--database-url postgresql://…]
                                   [--store s3 --freeze 30]

Prepares a scratch archive (certificates issued and signed, so there are documents, PDFs, public checks and an
index), starts `dms serve --workers N --threads T` (gunicorn, gthread) and `dms indexer`, then each client loops
with its own keep-alive connection over a mix: search 35 % (GET /api/v1/search), public check by number 25 %
(GET /api/v1/verify, rate limit lifted), document page 20 % (GET /api/v1/documents/{id}), download 20 % (GET …/content,
the PDF from the store). A prober asks GET /healthz every 0.25 s meanwhile. Every level runs a bounded time. The
load averages (`uptime`) are printed before and after: on a shared 2-core machine they say how quiet it was.
`--threads 1` gives the old behaviour (one request at a time per worker) for comparison.

`--store s3` keeps the objects in moto's S3 server (a child process) instead of files; `--freeze S` then stops that
server (SIGSTOP: connections hang, nothing answers) for one more level of S seconds at 16 clients, as a hung
object store: search, the public check and document pages must keep answering while downloads answer 503.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

MIX = (("search", 35), ("check", 25), ("document", 20), ("download", 20))
PASSWORD = "tiho-gorit-lampa-71"
PIN = "12345678"
WORDS = ("свидетельство", "квалификации", "оценки", "центр", "Иванов", "Петрова", "специалист", "уровень")


def prepare(data_dir: Path, certificates: int) -> dict:
    """A scratch archive: a centre, its blanks, a signatory with a key, `certificates` issued (signed PDFs, public
    checks), a reader for the load, the index drained."""
    os.environ.setdefault("DMS_PKI_PASSPHRASE", "bench-passphrase")
    from issue import make_rows  # bench/issue.py
    from sqlalchemy import select

    from dms.config import Settings
    from dms.models import Document, Organisation, Version
    from dms.runtime import Runtime
    from dms.certificates import service as certs
    from dms.fulltext import indexing
    from dms.signatures import pki
    from dms.operations import setup
    from dms.people import users
    rt = Runtime(Settings.from_env())
    setup.initialise(rt)
    pki.init(rt)
    with rt.db.session() as s:
        org = Organisation(code="ЦОК-77-001", name="Центр", kind="assessment_centre")
        s.add(org)
        s.flush()
        certs.allocate_blanks(s, None, org, "АА", 1, certificates)
        pki.issue(rt, s, None, users.create_user(s, "head", PASSWORD, ["Signatory"]), PIN)
    issued = certs.issue(rt, "head", "ЦОК-77-001", make_rows(certificates), PIN).issued
    known = [(c["number"], c["holder"].split()[0]) for c in issued]
    with rt.db.session() as s:
        users.create_user(s, "bench", PASSWORD, ["Auditor"])
        docs = [(d, n) for d, n in s.execute(select(Document.id, Version.number)
                                             .join(Version, Version.id == Document.current_version_id))]
    indexing.drain(rt)
    rt.close()
    return {"checks": known, "documents": docs}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not start")


def token(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/api/v1/tokens", body=json.dumps({"login": "bench", "password": PASSWORD}),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    body = json.loads(resp.read())
    if resp.status != 201:
        raise RuntimeError(f"no token: {resp.status} {body}")
    return str(body["token"])


def paths(archive: dict) -> dict[str, list[str]]:
    checks = [f"/api/v1/verify?{urlencode({'number': n, 'surname': s})}" for n, s in archive["checks"]]
    docs = archive["documents"]
    return {"search": [f"/api/v1/search?q={quote(w)}" for w in WORDS], "check": checks,
            "document": [f"/api/v1/documents/{d}" for d, _ in docs],
            "download": [f"/api/v1/documents/{d}/versions/{n}/content" for d, n in docs]}


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run_level(port: int, auth: str, urls: dict[str, list[str]], clients: int, seconds: float) -> dict:
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    health: list[float] = []
    health_errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    ops = [op for op, weight in MIX for _ in range(weight)]

    def client(i: int) -> None:
        rnd = random.Random(i)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[tuple[str, float, int]] = []
        while time.monotonic() < deadline:
            op = rnd.choice(ops)
            started = time.perf_counter()
            try:
                conn.request("GET", rnd.choice(urls[op]), headers={"Authorization": f"Bearer {auth}"})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            mine.append((op, time.perf_counter() - started, status))
        conn.close()
        with lock:
            for op, seconds_taken, status in mine:
                latencies[op].append(seconds_taken)
                statuses[op][status] += 1

    def prober() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", "/healthz")
                ok = conn.getresponse().status == 200
                conn.close()
            except OSError:
                ok = False
            health.append(time.perf_counter() - started)
            health_errors[0] += not ok
            time.sleep(0.25)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    threads.append(threading.Thread(target=prober))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"latencies": latencies, "statuses": statuses, "health": health, "health_errors": health_errors[0]}


def ms(value: float) -> str:
    return f"{value * 1000:7.1f}"


def report(level: int, seconds: float, result: dict) -> None:
    every = [x for values in result["latencies"].values() for x in values]
    total = len(every)
    bad = {op: {s: n for s, n in st.items() if not 200 <= s < 300 and not (op == "check" and s == 404)}
           for op, st in result["statuses"].items()}
    errors = sum(sum(b.values()) for b in bad.values())
    health = result["health"]
    print(f"{level:>7} {total / seconds:8.1f} {ms(percentile(every, 50))} {ms(percentile(every, 95))} "
          f"{ms(percentile(every, 99))} {errors:>6} | {ms(percentile(health, 50))} {ms(percentile(health, 95))} "
          f"{ms(max(health) if health else float('nan'))} {result['health_errors']:>4}")
    for op, _ in MIX:
        values = result["latencies"].get(op, [])
        detail = ", ".join(f"{s}×{n}" for s, n in sorted(bad.get(op, {}).items()))
        print(f"        {op:<9} {len(values) / seconds:7.1f}/s  p50 {ms(percentile(values, 50))}  "
              f"p95 {ms(percentile(values, 95))}  p99 {ms(percentile(values, 99))} ms"
              + (f"  errors: {detail}" if detail else ""))


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default="4,16,32")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--certificates", type=int, default=60)
    ap.add_argument("--database-url", default="", help="PostgreSQL (an empty database); default: SQLite")
    ap.add_argument("--store", choices=("files", "s3"), default="files")
    ap.add_argument("--freeze", type=float, default=0, help="with --store s3: seconds of a frozen store at the end")
    ap.add_argument("--log", default="", help="keep the server's log in this file")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="pechat-load-") as tmp:
        os.environ.update({"DMS_DATA_DIR": tmp, "DMS_SECRET_KEY": "bench-load", "DMS_ARGON2_PROFILE": "CHEAPEST",
                           "DMS_VERIFY_PER_MINUTE": "100000000"})
        if args.database_url:
            os.environ["DMS_DATABASE_URL"] = args.database_url
        moto = None
        if args.store == "s3":
            from tests.s3server import MotoS3Server
            moto = MotoS3Server.start()
            os.environ["DMS_STORAGE_URL"] = moto.create_bucket()
        started = time.perf_counter()
        archive = prepare(Path(tmp), args.certificates)
        print(f"archive: {len(archive['documents'])} documents, {len(archive['checks'])} certificates "
              f"({time.perf_counter() - started:.0f} s to prepare); database "
              f"{'PostgreSQL' if args.database_url else 'SQLite'}, store: {args.store}")
        port = free_port()
        logs = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115  closed below
        server = subprocess.Popen([sys.executable, "-m", "dms", "serve", "--port", str(port), "--workers",
                                   str(args.workers), "--threads", str(args.threads)], stdout=logs, stderr=logs)
        indexer = subprocess.Popen([sys.executable, "-m", "dms", "indexer"], stdout=logs, stderr=logs)
        try:
            wait_http(port)
            auth = token(port)
            urls = paths(archive)
            run_level(port, auth, urls, 2, 2.0)  # warm every worker up
            print(f"dms serve --workers {args.workers} --threads {args.threads} (gunicorn gthread), "
                  f"{args.seconds:.0f} s per level")
            print(f"before: {uptime()}")
            print(" clients    req/s   p50 ms  p95 ms  p99 ms errors | healthz p50   p95     max  err")
            for level in levels:
                report(level, args.seconds, run_level(port, auth, urls, level, args.seconds))
            if moto is not None and args.freeze:
                os.kill(moto.process.pid, signal.SIGSTOP)
                try:
                    print(f"object store FROZEN (SIGSTOP) for {args.freeze:.0f} s, 16 clients "
                          "(downloads should answer 503; 503 counted as errors):")
                    report(16, args.freeze, run_level(port, auth, urls, 16, args.freeze))
                finally:
                    os.kill(moto.process.pid, signal.SIGCONT)
            print(f"after:  {uptime()}")
        finally:
            for proc in (server, indexer):
                proc.terminate()
            for proc in (server, indexer):
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            logs.close()
            if moto is not None:
                moto.stop()
            log_text = (Path(tmp) / "serve.log").read_text(errors="replace")
            if args.log:
                Path(args.log).write_text(log_text)
            tracebacks = log_text.count("Traceback")
            if tracebacks:
                print(f"server log: {tracebacks} tracebacks; last lines:\n" + "\n".join(log_text.splitlines()[-20:]))


if __name__ == "__main__":
    main()
