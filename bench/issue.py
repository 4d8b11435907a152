"""Batch issue of certificates of qualification: N rows of exam results -> N signed (PAdES B-T, own TSA),
stored, indexed certificates, through the service the CLI and the web use.

    .venv/bin/python bench/issue.py [--rows 1000] [--workers 2]

Prints the time per stage, certificates per second, and the target (1,000 in <= 60 s on 2 cores). The baseline in
the same run is rendering alone (the part no signature can make faster).
"""
from __future__ import annotations

import argparse
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
from dms.services import certificates as certs  # noqa: E402
from dms.services import indexing, pki, setup, users  # noqa: E402
from dms.services.certificate_rows import ExamResult  # noqa: E402

SURNAMES = ["Иванов", "Петров", "Сидоров", "Кузнецов", "Смирнов", "Попов", "Васильев", "Соколов", "Михайлов"]
NAMES = ["Иван", "Пётр", "Алексей", "Сергей", "Андрей", "Дмитрий"]


def make_rows(n: int) -> list[ExamResult]:
    return [ExamResult(row=i + 2, full_name=f"{SURNAMES[i % 9]} {NAMES[i % 6]} {NAMES[(i // 6) % 6]}ович",
                       qualification=f"Сварщик ручной дуговой сварки плавящимся покрытым электродом ({i % 7 + 2} разряд)",
                       level=3 + i % 3, exam_date=date.today() - timedelta(days=2), protocol=f"П-{i // 100}")
            for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    certs.SIGN_WORKERS = args.workers
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
            certs.allocate_blanks(s, None, org, "АА", 1, args.rows)
            head = users.create_user(s, "head", "bench-password", ["Signatory"], full_name="Лебедева И. П.")
            pki.issue(rt, s, None, head, "123456")
        data = make_rows(args.rows)
        marks: dict[str, float] = {}
        started = time.perf_counter()

        def progress(stage: str, done: int, total: int) -> None:
            if done == total:
                marks[stage] = time.perf_counter()

        result = certs.issue(rt, "head", "ЦОК-77-001", data, "123456", progress=progress)
        issued_at = time.perf_counter()
        stats = indexing.drain(rt)
        done = time.perf_counter()
        print(f"rows: {args.rows}, worker processes: {args.workers}")
        print(f"  reserve, render + sign (B-T)  {marks['signing'] - started:6.1f} s")
        print(f"  store                         {marks['storing'] - marks['signing']:6.1f} s")
        print(f"  record (one DB transaction)   {issued_at - marks['storing']:6.1f} s")
        print(f"  index                         {done - issued_at:6.1f} s ({stats.upserted} documents)")
        total = done - started
        print(f"total {total:.1f} s = {args.rows / total:.1f} certificates/s "
              f"(target: 1,000 in <= 60 s -> {'met' if total * 1000 / args.rows <= 60 else 'NOT met'})")
        sample = [certs._spec(rt, org, head, certs.Prepared(r, f"N-{r.row}", "AA1", "t" * 24, None))
                  for r in data[:100]]
        t0 = time.perf_counter()
        for spec in sample:
            certs.pdfrender.render_certificate_pdf(spec)
        per_pdf = (time.perf_counter() - t0) / len(sample)
        print(f"baseline in this run: rendering alone, one core: {1 / per_pdf:.0f} PDFs/s "
              f"({args.rows * per_pdf:.1f} s for {args.rows})")
        assert len(result.issued) == args.rows
        rt.close()


if __name__ == "__main__":
    main()
