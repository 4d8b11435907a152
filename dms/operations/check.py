"""`dms check`: the database and the object store agree. Reports missing objects, checksum mismatches and
orphans (objects no version references); deletes orphans older than a grace period on request."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, UTC
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import ChecksumMismatch, ObjectNotFound, ObjectProtected, ObjectStore

from dms.models import Signature, Version

ORPHAN_GRACE = timedelta(days=1)


@dataclass
class CheckReport:
    objects_checked: int = 0
    missing: list[dict] = field(default_factory=list)
    corrupted: list[dict] = field(default_factory=list)
    orphans: list[dict] = field(default_factory=list)
    orphans_deleted: list[str] = field(default_factory=list)
    index: dict = field(default_factory=dict)
    # Paths of the data dir that group or others may read (dms.operations.filemodes; `dms init` fixes them).
    modes: list[dict] = field(default_factory=list)
    jobs: list[dict] = field(default_factory=list)  # stuck durable jobs (stuck_jobs below)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupted or self.index.get("drift") or self.modes or self.jobs)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "objects_checked": self.objects_checked, "missing": self.missing,
                "corrupted": self.corrupted, "orphans": self.orphans, "orphans_deleted": self.orphans_deleted,
                "index": self.index, "modes": self.modes, "jobs": self.jobs}


def check_objects(session: Session, store: ObjectStore, *, delete_orphans: bool = False,
                  verify_content: bool = True, now: datetime | None = None,
                  progress: Callable[[int], None] | None = None) -> CheckReport:
    now = now or datetime.now(UTC)
    report = CheckReport()
    referenced: dict[str, list[tuple[int, int]]] = {}
    for key, doc_id, number in session.execute(select(Version.object_key, Version.document_id, Version.number)):
        referenced.setdefault(key, []).append((doc_id, number))
    # Detached CMS signatures (.p7s) are objects of their own, referenced by the signature, not by a version.
    for p7s_key, doc_id in session.execute(select(Signature.p7s_key, Signature.document_id)
                                       .where(Signature.p7s_key.is_not(None))):
        if p7s_key is not None:
            referenced.setdefault(p7s_key, []).append((doc_id, 0))
    for key, refs in referenced.items():
        where = [{"document": d, "version": n} for d, n in refs]
        try:
            if verify_content:
                store.verify(key)
            else:
                store.stat(key)
        except ObjectNotFound:
            report.missing.append({"key": key, "versions": where})
        except ChecksumMismatch as exc:
            report.corrupted.append({"key": key, "versions": where, "error": str(exc)})
        report.objects_checked += 1
        if progress:
            progress(1)
    for info in store.list():
        if info.key in referenced:
            continue
        age = now - info.modified
        report.orphans.append({"key": info.key, "size": info.size, "age_hours": round(age.total_seconds() / 3600, 1)})
        if delete_orphans and age > ORPHAN_GRACE:
            try:
                store.delete(info.key)
            except ObjectProtected:
                report.orphans[-1]["protected"] = True  # under retention: kept until it expires
                continue
            report.orphans_deleted.append(info.key)
    return report


def stuck_jobs(session: Session, now: datetime | None = None) -> list[dict]:
    """Durable jobs (dms.jobs) whose worker died (no heartbeat) or that no worker took — a running worker resumes
    them within a minute; reported here when none runs — and the certificate batches that need a person (below).
    Each entry carries the line `dms check` prints for it ("line"), worded for what it is."""
    from dms import jobs
    return [{**j, "line": f"ЗАВИСЛО задание {j['id']} ({j['kind']}, {j['status']}, попыток {j['attempts']}, "
                          f"с {j['since']}): его продолжит dms worker — запущен ли он?"}
            for j in jobs.stuck(session, now)] + stuck_batches(session, now)


def stuck_batches(session: Session, now: datetime | None = None) -> list[dict]:
    """Certificate batches whose process died holding numbers and blanks (no worker resumes them: the PIN is
    entered again), and numbers of cancelled batches that could not go back to their series (holes) until a
    signatory acknowledges them on the batch's page."""
    from dms.certificates import service as certs
    out = []
    for b in certs.stuck_batches(session, now):
        since = (b.heartbeat_at or b.created_at).isoformat()
        out.append({"id": f"пакет свидетельств {b.id}", "kind": "dms certificates resume|cancel", "status": b.stage,
                    "attempts": 0, "since": since, "batch": b.id, "reserved": b.total,
                    "line": f"ПРЕРВАН пакет свидетельств {b.id} (этап {b.stage}, с {since}, резерв {b.total}): "
                            f"продолжите его с PIN-кодом или отмените — на странице пакета или "
                            f"dms certificates resume|cancel {b.id} --as LOGIN"})
    for h in certs.cancelled_holes(session):
        numbers = h["numbers"][0] + (f"…{h['numbers'][-1]}" if len(h["numbers"]) > 1 else "")
        out.append({"id": f"пакет свидетельств {h['batch']} отменён", "kind": "пропуск номеров",
                    "status": "cancelled", "attempts": 0, "since": numbers, "batch": h["batch"],
                    "numbers": h["numbers"],
                    "line": f"ПРОПУСК НОМЕРОВ {numbers} ({len(h['numbers'])}): отменённый пакет {h['batch']} не "
                            f"вернул их в серию; подтвердите пропуск на странице пакета"})
    return out
