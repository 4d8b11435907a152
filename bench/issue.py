"""Batch issue of certificates of qualification: N rows of exam results -> N signed (PAdES B-T, own TSA),
stored, indexed certificates, through the service the CLI and the web use.

    .venv/bin/python bench/issue.py [--sizes 50,100,200,500,1000] [--repeats 3] [--workers 2]

Each size runs --repeats times, each in a fresh archive with a fresh CA (as a clerk's first batch after `dms init`),
all in this one process (as a web worker or `dms worker` issues batch after batch). Prints per size min/median/max
of the batch (reserve, render + sign [+ store, which overlaps it], store, record) in seconds and certificates per
second, beside baselines measured in the same run: rendering alone on one core; signing alone (signing.batch, B-T, own
TSA, the pool already started -- bench/sign.py's "ours 2 workers", a one-page PDF without a stamp); signing
certificates alone as a batch signs them (stamp + lock); and the ceiling these give for render + sign on the workers
(each run's rate is also given as a fraction of it). Targets of issue 20: 1,000 rows <= 30 s, no run < 30/s.
"""
from __future__ import annotations

import argparse
import statistics
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DMS_ARGON2_PROFILE", "CHEAPEST")
os.environ.setdefault("DMS_PKI_PASSPHRASE", "bench-passphrase")

from dms.config import Settings  # noqa: E402
from dms.models import Organisation  # noqa: E402
from dms.runtime import Runtime  # noqa: E402
from dms.certificates import service as certs  # noqa: E402
from dms.signatures import pki  # noqa: E402
from dms.operations import setup  # noqa: E402
from dms.people import users  # noqa: E402
from dms.certificates.rows import ExamResult  # noqa: E402

SURNAMES = ["Иванов", "Петров", "Сидоров", "Кузнецов", "Смирнов", "Попов", "Васильев", "Соколов", "Михайлов"]
NAMES = ["Иван", "Пётр", "Алексей", "Сергей", "Андрей", "Дмитрий"]


def make_rows(n: int) -> list[ExamResult]:
    return [ExamResult(row=i + 2, full_name=f"{SURNAMES[i % 9]} {NAMES[i % 6]} {NAMES[(i // 6) % 6]}ович",
                       qualification="Сварщик ручной дуговой сварки плавящимся покрытым электродом "
                                     f"({i % 7 + 2} разряд)",
                       level=3 + i % 3, exam_date=date.today() - timedelta(days=2), protocol=f"П-{i // 100}")
            for i in range(n)]


PIN = "bench-pin-123456"  # PINs are >= 8 characters


def one_batch(rows: int) -> dict[str, float]:
    """A fresh archive and CA, one batch of `rows` certificates; the stage times."""
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/b.sqlite3",
                              storage_url=(Path(tmp) / "objects").as_uri(), index_dir=Path(tmp) / "index",
                              secret_key="bench"))
        setup.initialise(rt)
        pki.init(rt)
        with rt.db.session() as s:
            org = Organisation(code="ЦОК-77-001", name="ООО «Центр оценки квалификаций „Меридиан“»",
                               kind="assessment_centre", city="Москва")
            s.add(org)
            s.flush()
            certs.allocate_blanks(s, None, org, "АА", 1, rows)
            head = users.create_user(s, "head", "bench-password", ["Signatory"], full_name="Лебедева И. П.")
            pki.issue(rt, s, None, head, PIN)
        marks: dict[str, float] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if done == total:
                marks[stage] = time.perf_counter()

        workers_before = _workers_cpu()
        cpu_before = time.process_time()
        started = time.perf_counter()
        result = certs.issue(rt, "head", "ЦОК-77-001", make_rows(rows), PIN, progress=progress)
        issued_at = time.perf_counter()
        parent_cpu = time.process_time() - cpu_before
        assert len(result.issued) == rows
        rt.close()
    time.sleep(0.3)  # the fork server reaps the batch's workers: their CPU time is then in its children's
    return {"sign": marks["signing"] - started, "store": marks["storing"] - marks["signing"],
            "record": issued_at - marks["storing"], "total": issued_at - started,
            "cpu_parent": parent_cpu / rows * 1000, "cpu_workers": (_workers_cpu() - workers_before) / rows * 1000}


def _workers_cpu() -> float:
    """CPU seconds of the worker processes ended so far: they are the fork server's children, reaped by it."""
    import multiprocessing.forkserver as forkserver
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime + cstime


def render_rate(count: int = 100) -> float:
    org = Organisation(code="ЦОК-77-001", name="ООО «Центр оценки квалификаций „Меридиан“»", city="Москва")
    from dms.models import User
    head = User(login="head", full_name="Лебедева И. П.")

    class _RT:
        class settings:  # noqa: N801
            base_url = "http://127.0.0.1:5000"

    specs = [certs._spec(_RT, org, head, certs.Prepared(r, f"N-{r.row}", "AA1", "t" * 24, None))  # type: ignore[arg-type]
             for r in make_rows(count)]
    for spec in specs[:3]:  # the fonts and the template loaded first, as in a batch's workers
        certs.pdfrender.render_certificate_pdf(spec)
    t0 = time.perf_counter()
    for spec in specs:
        certs.pdfrender.render_certificate_pdf(spec)
    return count / (time.perf_counter() - t0)


def sign_rate(workers: int, count: int = 200) -> float:
    """bench/sign.py's figure for ours with a pool: B-T signatures per second, the pool started before timing."""
    from signing.batch import BatchSigner
    from signing.pades import Level, SignRequest
    from signing.pki import CertificateAuthority, KeyAlgorithm, load_signer
    from signing.tsa import TimeStampAuthority
    sys.path.append(str(ROOT / "bench"))  # after the root: bench/search.py must not hide the search package
    from sign import PIN as SIGN_PIN
    from sign import one_page_pdfs
    ca = CertificateAuthority.create("Bench CA", algorithm=KeyAlgorithm.ECDSA_P256)
    identity = load_signer(ca.issue_user_certificate("Bench Signer", SIGN_PIN, algorithm=KeyAlgorithm.ECDSA_P256),
                           SIGN_PIN, ca.chain_der)
    request = SignRequest(level=Level.B_T, timestamper=TimeStampAuthority.from_ca(ca))
    pdfs = one_page_pdfs(count)
    with BatchSigner(identity, request, workers=workers) as pool:
        pool.sign_many(pdfs[:4], chunksize=1)
        t0 = time.perf_counter()
        pool.sign_many(pdfs, chunksize=10)
        return count / (time.perf_counter() - t0)


def certificate_sign_rate(workers: int, count: int = 200) -> float:
    """Signing alone, of certificates as a batch signs them (the rendered certificate, locked, with the visible
    stamp: dms.certificates.service.signing_request), the pool started before timing. A certificate's signature
    costs more than bench/sign.py's one-page PDF without a stamp, so this is the batch's own signing ceiling."""
    from signing.batch import BatchSigner
    from signing.pki import CertificateAuthority, KeyAlgorithm, load_signer
    from signing.tsa import TimeStampAuthority
    sys.path.append(str(ROOT / "bench"))  # after the root: bench/search.py must not hide the search package
    from sign import PIN as SIGN_PIN
    org = Organisation(code="ЦОК-77-001", name="ООО «Центр оценки квалификаций „Меридиан“»", city="Москва")
    from dms.models import User
    head = User(login="head", full_name="Лебедева И. П.")

    class _RT:
        class settings:  # noqa: N801
            base_url = "http://127.0.0.1:5000"

    pdfs = [certs.pdfrender.render_certificate_pdf(
        certs._spec(_RT, org, head, certs.Prepared(r, f"N-{r.row}", "AA1", "t" * 24, None)))  # type: ignore[arg-type]
        for r in make_rows(count)]
    ca = CertificateAuthority.create("Bench CA", algorithm=KeyAlgorithm.ECDSA_P256)
    identity = load_signer(ca.issue_user_certificate("Bench Signer", SIGN_PIN, algorithm=KeyAlgorithm.ECDSA_P256),
                           SIGN_PIN, ca.chain_der)
    with BatchSigner(identity, certs.signing_request(TimeStampAuthority.from_ca(ca)), workers=workers) as pool:
        pool.sign_many(pdfs[:4], chunksize=1)
        t0 = time.perf_counter()
        pool.sign_many(pdfs, chunksize=1)
        return count / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="50,100,200,500,1000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    certs.SIGN_WORKERS = args.workers
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    from signing.batch import worker_context
    worker_context(certs._PRELOAD)  # the fork server (started by the first pool below) preloads what batches need
    print(f"load average at start: {os.getloadavg()[0]:.2f}; worker processes: {args.workers}", flush=True)
    rendering = render_rate()
    print(f"baseline: rendering alone, one core: {rendering:.0f} PDFs/s", flush=True)
    print(f"baseline: signing alone (B-T, {args.workers} workers, pool started): {sign_rate(args.workers):.0f}/s",
          flush=True)
    signing = certificate_sign_rate(args.workers)
    # both stages of a certificate on the same cores: 1 / (1/signing + 1/(workers x rendering))
    ceiling = 1 / (1 / signing + 1 / (args.workers * rendering))
    print(f"baseline: signing certificates alone (stamp + lock, {args.workers} workers): {signing:.0f}/s; "
          f"render + sign ceiling on {args.workers} workers: {ceiling:.0f}/s", flush=True)
    worst = float("inf")
    for rows in sizes:
        runs = [one_batch(rows) for _ in range(args.repeats)]
        totals = sorted(r["total"] for r in runs)
        rates = [rows / t for t in totals]
        worst = min(worst, *rates)
        stages = "  ".join(f"{k} {statistics.median(r[k] for r in runs):5.2f}" for k in ("sign", "store", "record"))
        cpu = (f"CPU per certificate (median): batch process {statistics.median(r['cpu_parent'] for r in runs):.1f} ms"
               f" + workers {statistics.median(r['cpu_workers'] for r in runs):.1f} ms")
        print(f"{rows:5d} rows: min {totals[0]:6.1f} s  median {statistics.median(totals):6.1f} s  "
              f"max {totals[-1]:6.1f} s"
              f"  = {min(rates):5.1f}..{max(rates):5.1f} certificates/s"
              f" ({min(rates) / ceiling:.2f}..{max(rates) / ceiling:.2f} of the ceiling)  (median stages: {stages})"
              f"  load {os.getloadavg()[0]:.2f}\n      {cpu}\n      each run in order, s: "
              + " ".join(f"{r['total']:.2f}" for r in runs), flush=True)
        if rows == 1000:
            print(f"      1,000 rows <= 30 s in every run: {'met' if totals[-1] <= 30 else 'NOT met'}", flush=True)
    print(f"slowest run: {worst:.1f} certificates/s (target: none below 30/s -> {'met' if worst >= 30 else 'NOT met'})")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
