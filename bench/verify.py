"""Public verification lookups per second against the running app (gunicorn, embedded SQLite default).

    .venv/bin/python bench/verify.py [--certificates 50] [--seconds 10] [--clients 8] [--workers 2]
                                     [--postgres [--dsn postgresql://postgres@127.0.0.1:5432/postgres]]

Issues certificates into a scratch archive, starts `dms serve --workers N`, then N keep-alive clients ask
GET /api/v1/verify?number=…&surname=… (a mix of hits and misses) for a fixed time. Baseline in the same run:
GET /healthz (no query) on the same server, and the server's CPU per request of both (what a loaded,
shared machine does not distort). Target (issue 20): >= 500 lookups per second.

With --postgres the archive is a scratch PostgreSQL database (created and dropped by the run) instead of the
embedded SQLite; the server's CPU then includes the PostgreSQL backends serving it (same machine).
"""
from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def prepare(data_dir: Path, n: int) -> list[tuple[str, str]]:
    os.environ.update({"DMS_DATA_DIR": str(data_dir), "DMS_PKI_PASSPHRASE": "bench-passphrase",
                       "DMS_ARGON2_PROFILE": "CHEAPEST"})
    from issue import make_rows  # bench/issue.py

    from dms.config import Settings
    from dms.models import Organisation
    from dms.runtime import Runtime
    from dms.certificates import service as certs
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
        certs.allocate_blanks(s, None, org, "АА", 1, n)
        pki.issue(rt, s, None, users.create_user(s, "head", "bench-password", ["Signatory"]), "bench-pin-123456")
    rows = make_rows(n)
    issued = certs.issue(rt, "head", "ЦОК-77-001", rows, "bench-pin-123456").issued
    rt.close()
    return [(c["number"], c["holder"].split()[0]) for c in issued]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_cpu_s(pid: int, extra: list[int] | None = None) -> float:
    """CPU seconds (user + system) used so far by the server process and its workers (Linux /proc), and by the
    `extra` processes (PostgreSQL's backends). On a shared, loaded machine requests per second follow the CPU share
    the server gets; CPU per request does not."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid, *(extra or [])]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def hammer(port: int, paths: list[str], seconds: float, clients: int) -> tuple[int, int]:
    """`clients` keep-alive connections; each request comes from one of 2**24 addresses (X-Forwarded-For, the
    server trusting one proxy), as public lookups come from many employers: the limiter counts each address
    against the real limit, as it does in service (one address for all would make it count one huge window)."""
    counts = [0] * clients
    errors = [0] * clients
    deadline = time.monotonic() + seconds

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        rnd = random.Random(i)
        while time.monotonic() < deadline:
            conn.request("GET", rnd.choice(paths), headers={"X-Forwarded-For": f"10.{rnd.getrandbits(24) >> 16}."
                                                            f"{(rnd.getrandbits(16) >> 8)}.{rnd.getrandbits(8)}"})
            resp = conn.getresponse()
            resp.read()
            if resp.status in (200, 404):  # a 429 (an address over the limit) counts as an error
                counts[i] += 1
            else:
                errors[i] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts), sum(errors)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--certificates", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--postgres", action="store_true", help="a scratch PostgreSQL database instead of SQLite")
    ap.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres",
                    help="an existing database of the server where the scratch one is created")
    args = ap.parse_args()
    admin = dbname = None
    if args.postgres:
        from sqlalchemy import create_engine, text

        dbname = f"pechat_verify_{os.getpid()}"
        admin = create_engine(args.dsn, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{dbname}"'))
        os.environ["DMS_DATABASE_URL"] = args.dsn.rsplit("/", 1)[0] + "/" + dbname
    try:
        run(args, dbname, admin)
    finally:
        if admin is not None:
            from sqlalchemy import text

            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
            admin.dispose()


def pg_cpu(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def idle_s() -> float:
    """Seconds the machine's CPUs have been idle (idle + iowait, /proc/stat), summed over the CPUs."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return (int(fields[3]) + int(fields[4])) / os.sysconf("SC_CLK_TCK")


def backends(admin, dbname: str | None) -> list[int]:  # noqa: ANN001
    """The PostgreSQL backend processes serving the scratch database (their CPU is the lookups' too)."""
    if admin is None:
        return []
    from sqlalchemy import text

    with admin.connect() as c:
        return [int(p) for p in c.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :d"),
                                          {"d": dbname}).scalars()]


def run(args: argparse.Namespace, dbname: str | None, admin) -> None:  # noqa: ANN001
    with tempfile.TemporaryDirectory() as tmp:
        known = prepare(Path(tmp), args.certificates)
        port = free_port()
        env = {**os.environ, "DMS_TRUSTED_PROXIES": "1", "DMS_SECRET_KEY": "bench"}  # the limit as shipped
        server = subprocess.Popen([sys.executable, "-m", "dms", "serve", "--port", str(port), "--workers",
                                   str(args.workers), "--no-indexer"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            lookups = [f"/api/v1/verify?{urlencode({'number': n, 'surname': s})}" for n, s in known]
            lookups += [f"/api/v1/verify?{urlencode({'number': n, 'surname': 'Неверная'})}" for n, _ in known[:10]]
            hammer(port, lookups, 1.0, args.clients)  # warm up every worker and open its connections
            pg = backends(admin, dbname)
            cpu0 = server_cpu_s(server.pid, pg)
            base, base_err = hammer(port, ["/healthz"], args.seconds, args.clients)
            cpu1, pg1, idle1 = server_cpu_s(server.pid, pg), pg_cpu(pg), idle_s()
            done, err = hammer(port, lookups, args.seconds, args.clients)
            cpu2, pg2, idle2 = server_cpu_s(server.pid, pg), pg_cpu(pg), idle_s()
        finally:
            server.terminate()
            server.wait(timeout=30)
    rate, base_rate = done / args.seconds, base / args.seconds
    print(f"{'PostgreSQL' if dbname else 'SQLite'}; gunicorn workers: {args.workers}, clients: {args.clients}, "
          f"{args.seconds:.0f} s each, {len(known)} certificates")
    print(f"baseline GET /healthz:       {base_rate:7.1f} requests/s ({base_err} errors)")
    print(f"GET /api/v1/verify (audited): {rate:7.1f} lookups/s ({err} errors) = {rate / base_rate:.2f} of baseline; "
          f"target >= 500/s: {'met' if rate >= 500 else 'NOT met'}")
    base_cpu, cpu = 1000 * (cpu1 - cpu0) / max(base, 1), 1000 * (cpu2 - cpu1) / max(done, 1)
    print(f"server CPU per request: /healthz {base_cpu:.2f} ms, lookup {cpu:.2f} ms = {base_cpu / cpu:.2f} of baseline "
          f"(the ratio a machine whose cores are all the server's would show; load average now "
          f"{os.getloadavg()[0]:.2f})")
    if dbname:
        print(f"  of the lookup's CPU, PostgreSQL's backends: {1000 * (pg2 - pg1) / max(done, 1):.2f} ms")
    print(f"  the machine's idle CPU during the lookups: {(idle2 - idle1) / args.seconds:.2f} of "
          f"{os.cpu_count()} cores (waits for the disk or the database show here, not as CPU)")


if __name__ == "__main__":
    main()
