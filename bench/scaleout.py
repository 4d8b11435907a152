"""Scale-out, proven (issue 17.6): two `dms serve` hosts against ONE PostgreSQL, ONE S3 and ONE Redis, with one
`dms indexer` and one `dms worker`, under a bounded mixed load of reads and writes; one host is killed (SIGKILL of its
whole process group: gunicorn master and workers) in the middle. Then the script checks and prints:

- every write that was acknowledged (2xx) exists: its rows, its object's bytes in S3 (SHA-256 of what was sent), and
  it is found by a search once the indexer has caught up;
- retrying the unacknowledged writes (connection lost, 5xx) with the same Idempotency-Key against the survivor, and
  replaying the acknowledged ones of the killed host, creates no duplicate (one document per creation key, one
  version per upload key);
- the survivor kept answering: its requests, errors and p50/p95 before, during (the first seconds after) and after
  the kill;
- a certificate batch posted through the API to host A before its death (202, a durable job) is issued whole by
  the worker: followed on the survivor, its PDFs' bytes checked in S3;
- `dms check` finds no missing or corrupted object (orphans of uploads cut by the kill are listed, as designed).

    [DMS_SEARCH_BACKEND=postgres] .venv/bin/python bench/scaleout.py [--seconds 20] [--clients 8] [--workers 1]
                                       [--threads 4] [--batch 10]
                                       [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
                                       [--redis-db 12] [--certificates 12]

It creates its own database (pechat_scaleout_<pid>, dropped at the end), a bucket on a moto S3 server (a child
process), and uses a Redis database number whose queue keys it checks are free at start and deletes at the end
(only keys naming the queue `pechat`). The load averages (`uptime`) are printed before and after: on a shared 2-core
machine they say how quiet it was. Exits 1 if a check fails.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import PASSWORD, PIN, free_port, ms, paths, percentile, prepare, uptime, wait_http  # noqa: E402

MIX = (("search", 25), ("check", 15), ("document", 15), ("download", 15), ("create", 15), ("upload", 15))
WRITES = ("create", "upload")
FOLDER = "/Масштаб"
SEEDS = 8  # documents the load uploads versions to
DURING_S = 3.0  # "during the kill": the first seconds after it
CENTRE = "ЦОК-77-001"  # the centre load.prepare() makes


def word(key: str) -> str:
    """A letters-only word unique to a write (the index splits digits from letters): found by a search for it."""
    return "zq" + "".join(string.ascii_lowercase[int(c, 16)] for c in key.replace("-", "")[:16])


@dataclass
class Write:
    op: str  # create | upload
    key: str  # the Idempotency-Key
    host: int  # index of the host it was first sent to
    path: str
    fields: dict[str, str]
    data: bytes
    status: int = 0
    answer: dict = field(default_factory=dict)
    retry_status: int = 0
    retry_replayed: bool = False
    retry_answer: dict = field(default_factory=dict)

    @property
    def acked(self) -> bool:
        return 200 <= self.status < 300


def multipart(fields: dict[str, str], data: bytes, filename: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: text/plain\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def exchange(conn: http.client.HTTPConnection, method: str, path: str, auth: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes, http.client.HTTPResponse]:
    """One request on a kept-alive connection, read whole: (status, body, response)."""
    conn.request(method, path, body=body, headers={"Authorization": f"Bearer {auth}", **(headers or {})})
    resp = conn.getresponse()
    return resp.status, resp.read(), resp


def send_write(conn: http.client.HTTPConnection, auth: str, w: Write) -> tuple[int, dict, bool]:
    body, ctype = multipart(w.fields, w.data, "note.txt")
    status, raw, resp = exchange(conn, "POST", w.path, auth, body,
                                 {"Content-Type": ctype, "Idempotency-Key": w.key})
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = {}
    return status, answer, resp.getheader("Idempotent-Replayed") == "true"


def new_write(op: str, rnd: random.Random, host: int, folder_id: int, seeds: list[int]) -> Write:
    key = str(uuid.UUID(int=rnd.getrandbits(128)))
    text = f"Заметка {word(key)} ключ {key}\n".encode() + os.urandom(8).hex().encode() + b"\n"
    if op == "create":
        return Write(op, key, host, "/api/v1/documents",
                     {"folder_id": str(folder_id), "type": "other", "title": f"Нагрузка {word(key)}"}, text)
    return Write(op, key, host, f"/api/v1/documents/{rnd.choice(seeds)}/versions", {"comment": key}, text)


class Host:
    def __init__(self, name: str, logs: Path, workers: int, threads: int) -> None:
        self.name = name
        self.port = free_port()
        self.log = open(logs / f"serve-{name}.log", "wb")  # noqa: SIM115  closed in stop()
        # its own session (process group), so a SIGKILL takes the master and its workers at once, as a host dying
        self.proc = subprocess.Popen([sys.executable, "-m", "dms", "serve", "--port", str(self.port), "--workers",
                                      str(workers), "--threads", str(threads)], stdout=self.log, stderr=self.log,
                                     start_new_session=True)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def seed_writer(n: int, blanks_from: int, blanks: int) -> tuple[int, list[int]]:
    """A clerk ("writer") and a folder with `n` documents that the load adds versions to; `blanks` more blank forms
    for the centre, from number `blanks_from` (the batch issued through the API during the load)."""
    import io

    from dms.config import Settings
    from dms.documents import folders
    from dms.documents import service as documents
    from dms.people import users
    from dms.runtime import Runtime
    rt = Runtime(Settings.from_env())
    with rt.db.session() as s:
        writer = users.create_user(s, "writer", PASSWORD, ["Clerk"])
        folder = folders.ensure(s, FOLDER)
        seeds = []
        for i in range(n):
            doc = documents.create(s, writer, folder, "other", f"Опора {i}")
            stored = documents.store_upload(rt.store, io.BytesIO(f"опора {i}\n".encode()), "seed.txt",
                                            rt.settings.max_upload_bytes)
            documents.add_version(s, writer, doc, stored)
            s.flush()
            seeds.append(doc.id)
        folder_id = folder.id
        if blanks:
            from sqlalchemy import select

            from dms.certificates import service as certs
            from dms.models import Organisation
            centre = s.scalars(select(Organisation).where(Organisation.code == CENTRE)).one()
            certs.allocate_blanks(s, None, centre, "АА", blanks_from, blanks_from + blanks - 1)
    rt.close()
    return folder_id, seeds


class BatchThroughA:
    """A certificate batch posted to host A through the API while the load runs (202: a durable job in PostgreSQL
    and Redis, the PIN sealed to the `dms worker`): it must be issued whole although A dies after accepting it."""

    def __init__(self, port: int, auth: str, first: int, n: int) -> None:
        from issue import make_rows  # bench/issue.py: the rows prepare() issued are the first `first`
        self.port, self.auth, self.n = port, auth, n
        self.csv = "ФИО;Квалификация;Уровень;Дата экзамена;Номер протокола\n" + "".join(
            f"{r.full_name};{r.qualification};{r.level};{r.exam_date.strftime('%d.%m.%Y')};{r.protocol}\n"
            for r in make_rows(first + n)[first:])
        self.status, self.location = 0, ""
        self.answer: dict = {}
        self.thread: threading.Thread | None = None

    def start(self, delay: float) -> None:
        def post() -> None:
            time.sleep(delay)
            boundary = uuid.uuid4().hex
            body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                           for k, v in (("centre", CENTRE), ("pin", PIN))).encode()
            body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="protokol.csv"\r\n\r\n'
                     f"{self.csv}\r\n--{boundary}--\r\n").encode()
            try:
                self.status, raw, resp = exchange(http.client.HTTPConnection("127.0.0.1", self.port, timeout=60),
                                                  "POST", "/api/v1/certificates/batches", self.auth, body,
                                                  {"Content-Type": f"multipart/form-data; boundary={boundary}",
                                                   "Idempotency-Key": f"batch-{os.getpid()}"})
                self.answer, self.location = json.loads(raw), resp.getheader("Location") or ""
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.answer = {"error": repr(exc)}
        self.thread = threading.Thread(target=post)
        self.thread.start()

    def finish(self, survivor: int, timeout: float, problems: dict[str, list[str]]) -> None:
        """Follow the job on the survivor until it ends; the batch's certificates, their bytes by SHA-256."""
        if self.thread is not None:
            self.thread.join()
        if self.status != 202:
            print(f"batch through A: not accepted ({self.status} {str(self.answer)[:200]}); nothing to follow")
            return
        conn = http.client.HTTPConnection("127.0.0.1", survivor, timeout=60)
        began, job = time.monotonic(), {}
        while time.monotonic() - began < timeout:
            job = json.loads(exchange(conn, "GET", self.location, self.auth)[1])
            if job.get("finished"):
                break
            time.sleep(1)
        batch = json.loads(exchange(conn, "GET", self.answer["url"], self.auth)[1])
        conn.close()
        from sqlalchemy import select

        from dms.config import Settings
        from dms.models import Certificate, Document, Version
        from dms.runtime import Runtime
        rt = Runtime(Settings.from_env())
        wrong = 0
        with rt.db.session() as s:
            versions = s.execute(select(Version).join(Document, Document.current_version_id == Version.id)
                                 .join(Certificate, Certificate.document_id == Document.id)
                                 .where(Certificate.batch_id == self.answer["batch"])).scalars().all()
            for v in versions:
                wrong += hashlib.sha256(rt.store.get_bytes(v.object_key)).hexdigest() != v.sha256
        rt.close()
        print(f"batch of {self.n} posted to host A (202, job {job.get('id', '?')[:8]}…), followed on B: job "
              f"{job.get('status')} after {time.monotonic() - began:.0f} s, batch {batch.get('stage')}, "
              f"{len(batch.get('issued', []))} certificates, {len(versions)} PDFs in S3, {wrong} with wrong bytes")
        if job.get("status") != "done" or len(batch.get("issued", [])) != self.n or len(versions) != self.n or wrong:
            problems["batch accepted by the killed host"].append(f"job {job}, batch {str(batch)[:300]}")


def token_as(port: int, login: str) -> str:
    status, raw, _ = exchange(http.client.HTTPConnection("127.0.0.1", port, timeout=30), "POST", "/api/v1/tokens", "",
                              json.dumps({"login": login, "password": PASSWORD}).encode(),
                              {"Content-Type": "application/json"})
    if status != 201:
        raise RuntimeError(f"no token for {login}: {status} {raw[:200]!r}")
    return str(json.loads(raw)["token"])


def run_load(hosts: list[Host], auth: str, urls: dict[str, list[str]], clients: int, seconds: float,
             folder_id: int, seeds: list[int], kill_at: float) -> tuple[list[tuple], list[Write], float]:
    """Clients alternate over the hosts (client i starts on host i % 2); a client whose host stops answering fails
    over to the other, as a proxy's health check would. Host 0 is killed `kill_at` seconds in.
    Returns (host, op, started offset, seconds, status) per request, the writes, and the kill's offset."""
    records: list[tuple] = []
    writes: list[Write] = []
    lock = threading.Lock()
    down: set[int] = set()
    start = time.monotonic()
    deadline = start + seconds
    ops = [op for op, weight in MIX for _ in range(weight)]
    killed_at = [float("nan")]

    def client(i: int) -> None:
        rnd = random.Random(1000 + i)
        home = i % len(hosts)
        conns: dict[int, http.client.HTTPConnection] = {}
        mine: list[tuple] = []
        my_writes: list[Write] = []
        while time.monotonic() < deadline:
            h = home if home not in down else next(x for x in range(len(hosts)) if x not in down)
            conn = conns.get(h) or http.client.HTTPConnection("127.0.0.1", hosts[h].port, timeout=30)
            conns[h] = conn
            op = rnd.choice(ops)
            began = time.monotonic()
            write = new_write(op, rnd, h, folder_id, seeds) if op in WRITES else None
            try:
                if write is None:
                    status = exchange(conn, "GET", rnd.choice(urls[op]), auth)[0]
                else:
                    write.status, write.answer, _ = send_write(conn, auth, write)
                    status = write.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conns.pop(h, None)
                if h == 0 and time.monotonic() - start >= kill_at:
                    down.add(h)  # the proxy marks it down
            mine.append((h, op, began - start, time.monotonic() - began, status))
            if write is not None:
                my_writes.append(write)
        for conn in conns.values():
            conn.close()
        with lock:
            records.extend(mine)
            writes.extend(my_writes)

    def killer() -> None:
        time.sleep(max(0.0, start + kill_at - time.monotonic()))
        killed_at[0] = time.monotonic() - start
        hosts[0].kill()

    threads = [threading.Thread(target=killer), *(threading.Thread(target=client, args=(i,)) for i in range(clients))]
    for t in threads:
        t.start()
    for t in reversed(threads):  # the clients, then the killer (done by then)
        t.join()
    return records, writes, killed_at[0]


def is_error(op: str, status: int) -> bool:
    return not 200 <= status < 300 and not (op == "check" and status == 404)


def report_host(records: list[tuple], host: int, killed_at: float, seconds: float) -> None:
    phases = (("before", 0.0, killed_at), ("during", killed_at, killed_at + DURING_S),
              ("after", killed_at + DURING_S, seconds))
    print("  phase    span s  requests   req/s  errors  p50 ms  p95 ms  p99 ms   (writes: acked/sent)")
    for name, lo, hi in phases:
        mine = [r for r in records if r[0] == host and lo <= r[2] < hi]
        lat = [r[3] for r in mine]
        errors = sum(is_error(r[1], r[4]) for r in mine)
        w = [r for r in mine if r[1] in WRITES]
        wok = sum(200 <= r[4] < 300 for r in w)
        span = max(hi - lo, 1e-9)
        print(f"  {name:<7} {span:7.1f} {len(mine):9} {len(mine) / span:7.1f} {errors:7} {ms(percentile(lat, 50))} "
              f"{ms(percentile(lat, 95))} {ms(percentile(lat, 99))}   ({wok}/{len(w)})")
    bad: dict[tuple[str, int], int] = defaultdict(int)
    for r in records:
        if r[0] == host and is_error(r[1], r[4]):
            bad[(r[1], r[4])] += 1
    if bad:
        print("  errors by kind: " + ", ".join(f"{op} {st or 'no answer'}×{n}" for (op, st), n in sorted(bad.items())))


def retry_writes(port: int, auth: str, writes: list[Write]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for w in writes:
        for _ in range(3):
            try:
                w.retry_status, w.retry_answer, w.retry_replayed = send_write(conn, auth, w)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            if w.retry_status != 409:  # 409: its first request still runs somewhere; wait and ask again
                break
            time.sleep(1)
    conn.close()


def wait_indexed(timeout: float) -> float:
    """Seconds until the outbox is empty (the indexer caught up)."""
    from sqlalchemy import create_engine, text
    engine = create_engine(os.environ["DMS_DATABASE_URL"])
    began = time.monotonic()
    try:
        while time.monotonic() - began < timeout:
            with engine.connect() as c:
                if not c.execute(text("SELECT count(*) FROM search_outbox")).scalar():
                    return time.monotonic() - began
            time.sleep(0.5)
    finally:
        engine.dispose()
    return float("nan")


def verify(writes: list[Write], port: int, auth: str) -> dict[str, list[str]]:
    """Rows, bytes (by SHA-256, read back from S3) and findability of every acknowledged or retried write; one
    document per creation key and one version per upload key."""
    from sqlalchemy import func, select

    from dms.config import Settings
    from dms.models import Document, Version
    from dms.runtime import Runtime
    problems: dict[str, list[str]] = defaultdict(list)
    superseded = searched = 0
    rt = Runtime(Settings.from_env())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        with rt.db.session() as s:
            for w in writes:
                expected = hashlib.sha256(w.data).hexdigest()
                if w.op == "create":
                    rows = s.execute(select(Document.id).where(Document.title == w.fields["title"])).scalars().all()
                    versions = (s.execute(select(Version).where(Version.document_id.in_(rows))).scalars().all()
                                if rows else [])
                else:
                    versions = s.execute(select(Version).where(Version.comment == w.key)).scalars().all()
                    rows = sorted({v.document_id for v in versions})
                committed = w.acked or 200 <= w.retry_status < 300
                if len(rows if w.op == "create" else versions) > 1:
                    problems["duplicate"].append(f"{w.op} {w.key}: {len(rows)} documents, {len(versions)} versions")
                if not committed:
                    continue
                if not versions:
                    problems["lost"].append(f"{w.op} {w.key} (first answer {w.status}, retry {w.retry_status})")
                    continue
                answer = w.answer if w.acked else w.retry_answer
                got = answer.get("versions", [{}])[0].get("sha256") if w.op == "create" else answer.get("sha256")
                for v in versions:
                    if v.sha256 != expected or got != expected:
                        problems["wrong sha"].append(f"{w.op} {w.key}: sent {expected}, row {v.sha256}, "
                                                     f"answer {got}")
                    elif hashlib.sha256(rt.store.get_bytes(v.object_key)).hexdigest() != expected:
                        problems["wrong bytes"].append(f"{w.op} {w.key}: object {v.object_key}")
                if w.acked and w.retry_status and not w.retry_replayed:
                    problems["acked retry not replayed"].append(f"{w.op} {w.key}: {w.retry_status}")
                current = set(s.execute(select(Document.current_version_id).where(Document.id.in_(rows))).scalars())
                if w.op == "upload" and not any(v.id in current for v in versions):
                    superseded += 1  # the index holds a document's current version's text, not older ones
                    continue
                searched += 1
                raw = exchange(conn, "GET", f"/api/v1/search?q={quote(word(w.key))}", auth)[1]
                found = {int(item["id"]) for item in json.loads(raw).get("items", [])}
                if not found & set(rows):
                    problems["not found"].append(f"{w.op} {w.key} ({word(w.key)}): documents {rows}, search {found}")
            total = s.execute(select(func.count()).select_from(Version)).scalar()
            print(f"  versions in the database: {total}; searched {searched} committed writes by their word, "
                  f"{superseded} uploads superseded by a later version (their text is no longer indexed)")
    finally:
        conn.close()
        rt.close()
    return problems


def pick_redis_db(preferred: int) -> int:
    import redis
    for db in [preferred, *range(15, 0, -1)]:
        if not redis.Redis(db=db).keys("*pechat*"):
            return db
    raise RuntimeError("no Redis database without a 'pechat' queue")


def forget_redis(db: int) -> int:
    import redis
    r = redis.Redis(db=db)
    keys = r.keys("*pechat*")
    return int(r.delete(*keys)) if keys else 0


def main() -> None:  # noqa: PLR0915  a script: one run from top to bottom
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--kill-at", type=float, default=0.4, help="fraction of --seconds at which host A is killed")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1, help="gunicorn workers per host")
    ap.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    ap.add_argument("--certificates", type=int, default=12, help="issued up front (public checks, PDFs)")
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--batch", type=int, default=10, help="certificates in a batch posted to A mid-load (0: none)")
    ap.add_argument("--redis-db", type=int, default=12)
    ap.add_argument("--logs", default="", help="copy the hosts', indexer's and worker's logs into this directory")
    args = ap.parse_args()

    from sqlalchemy import create_engine, text

    from tests.s3server import MotoS3Server
    dbname = f"pechat_scaleout_{os.getpid()}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{dbname}"'))
    redis_db = pick_redis_db(args.redis_db)
    moto = MotoS3Server.start()
    procs: list[subprocess.Popen] = []
    hosts: list[Host] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="pechat-scaleout-") as tmp:
        try:
            os.environ.update({
                "DMS_DATA_DIR": tmp, "DMS_SECRET_KEY": "bench-scaleout", "DMS_ARGON2_PROFILE": "CHEAPEST",
                "DMS_VERIFY_PER_MINUTE": "100000000",
                "DMS_DATABASE_URL": args.postgres.rsplit("/", 1)[0] + "/" + dbname,
                "DMS_STORAGE_URL": moto.create_bucket(),
                "DMS_JOBS_URL": f"redis://127.0.0.1:6379/{redis_db}"})
            started = time.perf_counter()
            archive = prepare(Path(tmp), args.certificates)
            folder_id, seeds = seed_writer(SEEDS, args.certificates + 1, args.batch)
            print(f"archive: {len(archive['documents'])} documents, {len(archive['checks'])} certificates, "
                  f"{len(seeds)} seed documents ({time.perf_counter() - started:.0f} s to prepare); one PostgreSQL "
                  f"({dbname}), one S3 (moto, {moto.endpoint}), one Redis (db {redis_db}); search backend "
                  f"{os.environ.get('DMS_SEARCH_BACKEND') or 'whoosh'}")
            logs = Path(tmp)
            side = open(logs / "side.log", "wb")  # noqa: SIM115  closed below
            hosts = [Host("A", logs, args.workers, args.threads), Host("B", logs, args.workers, args.threads)]
            procs = [subprocess.Popen([sys.executable, "-m", "dms", *cmd], stdout=side, stderr=side)
                     for cmd in (["indexer"], ["worker"])]
            for h in hosts:
                wait_http(h.port)
            auth = token_as(hosts[1].port, "writer")
            urls = paths(archive)
            print(f"hosts: A 127.0.0.1:{hosts[0].port}, B 127.0.0.1:{hosts[1].port}, each `dms serve --workers "
                  f"{args.workers} --threads {args.threads}`; one `dms indexer`, one `dms worker`; "
                  f"{args.clients} clients, {args.seconds:.0f} s; host A SIGKILLed at "
                  f"{args.seconds * args.kill_at:.1f} s")
            batch = BatchThroughA(hosts[0].port, token_as(hosts[0].port, "head"), args.certificates, args.batch)
            print(f"before: {uptime()}")
            if args.batch:
                batch.start(args.seconds * args.kill_at * 0.5)
            records, writes, killed_at = run_load(hosts, auth, urls, args.clients, args.seconds, folder_id, seeds,
                                                  args.seconds * args.kill_at)
            print(f"after:  {uptime()}")
            print(f"host A killed at {killed_at:.1f} s; total {len(records)} requests, "
                  f"{len(records) / args.seconds:.1f} req/s")
            for i, h in enumerate(hosts):
                print(f"host {h.name} ({'killed' if i == 0 else 'survivor'}):")
                report_host(records, i, killed_at, args.seconds)
            acked = [w for w in writes if w.acked]
            unacked = [w for w in writes if not w.acked]
            replay = [w for w in acked if w.host == 0]
            why = ", ".join(f"{st or 'no answer'}×{n}" for st, n in sorted(Counter(w.status for w in unacked).items()))
            print(f"writes: {len(writes)} sent, {len(acked)} acknowledged, {len(unacked)} not ({why})")
            retry_writes(hosts[1].port, auth, unacked + replay)
            print(f"retried against the survivor with the same key: {len(unacked)} unacknowledged -> "
                  f"{sum(200 <= w.retry_status < 300 for w in unacked)} 2xx "
                  f"({sum(w.retry_replayed for w in unacked)} replayed: committed before the kill); "
                  f"{len(replay)} acknowledged by A -> {sum(w.retry_replayed for w in replay)} replayed")
            caught_up = wait_indexed(120)
            print(f"indexer caught up {caught_up:.1f} s after the load")
            problems = verify(writes, hosts[1].port, auth)
            if args.batch:
                batch.finish(hosts[1].port, 300, problems)
            check = subprocess.run([sys.executable, "-m", "dms", "check", "--json"], capture_output=True, text=True)
            report = json.loads(check.stdout) if check.stdout.strip().startswith("{") else {}
            print(f"dms check: {report.get('objects_checked')} objects, {len(report.get('missing', []))} missing, "
                  f"{len(report.get('corrupted', []))} corrupted, {len(report.get('orphans', []))} orphans, "
                  f"index drift {bool(report.get('index', {}).get('drift'))}, "
                  f"stuck jobs {len(report.get('jobs', []))}")
            if not report:
                problems["dms check"].append(check.stdout[-500:] + check.stderr[-500:])
            elif report.get("missing") or report.get("corrupted"):
                problems["dms check"].append(json.dumps(report)[:500])
            committed = sum(w.acked or 200 <= w.retry_status < 300 for w in writes)
            print(f"verified {committed} committed writes ({len(acked)} acknowledged at first): rows, S3 bytes by "
                  "SHA-256, found by search")
            for kind, items in problems.items():
                print(f"PROBLEM {kind}: {len(items)}")
                for line in items[:5]:
                    print(f"    {line}")
            failed = bool(problems)
            print("RESULT: " + ("FAILED" if failed else "nothing acknowledged lost, no duplicate, survivor answered"))
            print(f"end:    {uptime()}")
        finally:
            for h in hosts:
                h.stop()
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
            moto.stop()
            forget_redis(redis_db)
            for name in ("serve-A.log", "serve-B.log", "side.log"):
                path = Path(tmp) / name
                if path.exists():
                    log_text = path.read_text(errors="replace")
                    if log_text.count("Traceback"):
                        errors = Counter(line for line in log_text.splitlines()
                                         if line and not line[0].isspace() and "Error" in line.split(":")[0])
                        print(f"{name}: {log_text.count('Traceback')} tracebacks: "
                              + "; ".join(f"{n}× {line[:160]}" for line, n in errors.most_common(3)))
                    if args.logs:
                        Path(args.logs).mkdir(parents=True, exist_ok=True)
                        (Path(args.logs) / name).write_text(log_text)
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
            admin.dispose()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
