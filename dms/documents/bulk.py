"""Actions on many documents at once: a ZIP of their files, one transition applied to each. Every document is
checked on its own, exactly as if it were opened alone; one refusal never stops the others."""
from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date
from collections.abc import Callable, Iterator
from urllib.parse import quote

from sqlalchemy.orm import Session

from storage import ObjectStore

from dms.errors import N_, DmsError, localize
from dms.models import Document, Folder, User
from dms.security import Forbidden
from dms.documents import service as docs
from dms.workflow import service as wf_svc

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')
ZIP_LARGE = 1 << 31  # entries this big need ZIP64 headers written up front


@dataclass
class ZipFile:
    name: str
    object_key: str
    size: int


@dataclass
class ZipPlan:
    files: list[ZipFile] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (document id, why, in Russian)


@dataclass
class Outcome:
    doc_id: int
    title: str          # empty for a document the user may not see: its title is not theirs to learn
    reg_number: str
    ok: bool
    message: str


# Permission -> what it allows, in words (msgids: read in the request's language).
PERMISSION_RU = {"View": N_("просмотр"), "Download": N_("скачивание"), "Edit": N_("изменение"),
                 "Add": N_("добавление"), "Transition": N_("смену состояния"), "Sign": N_("подпись"),
                 "ManageSharing": N_("управление доступом"), "ViewAudit": N_("журнал аудита"),
                 "Revoke": N_("аннулирование"), "ManageBlanks": N_("учёт бланков")}


def _reason(exc: Exception) -> str:
    if isinstance(exc, Forbidden):
        what = str(exc.permission)
        return localize("нет права на %(what)s", {"what": localize(PERMISSION_RU[what]) if what in PERMISSION_RU
                                                   else what})
    return exc.message if isinstance(exc, DmsError) else str(exc)


def _entry_name(reg_number: str | None, doc_id: int, filename: str, taken: set[str]) -> str:
    stem = _UNSAFE.sub("_", f"{reg_number or f'документ-{doc_id}'} {filename}").strip(" ._") or f"{doc_id}"
    name, n = stem, 1
    while name in taken:
        n += 1
        base, dot, ext = stem.rpartition(".")
        name = f"{base} ({n}).{ext}" if dot else f"{stem} ({n})"
    taken.add(name)
    return name


def plan_zip(session: Session, actor: User, ids: list[int], channel: str) -> ZipPlan:
    """The current version of each document `actor` may download, each download audited; the rest skipped."""
    plan = ZipPlan()
    taken: set[str] = set()
    for doc_id in ids:
        try:
            doc = docs.get(session, actor, doc_id)
            version = docs.get_version(session, actor, doc)
        except (DmsError, Forbidden) as exc:
            plan.skipped.append((doc_id, _reason(exc)))
            continue
        docs.record_download(session, actor, doc, version, channel)
        plan.files.append(ZipFile(_entry_name(doc.reg_number, doc.id, version.filename, taken),
                                  version.object_key, version.size))
    return plan


class _Sink(io.RawIOBase):
    """An unseekable buffer the ZIP writer appends to and the response drains."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # noqa: ANN001
        self.parts.append(bytes(b))
        return len(b)

    def drain(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


REPORT_NAME = "не вошли в архив.txt"


def zip_stream(store: ObjectStore, plan: ZipPlan, chunk: int = 1 << 16) -> Iterator[bytes]:
    """The ZIP, piece by piece, never whole in memory; a text file lists what was skipped and why."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for item in plan.files:
            with store.open(item.object_key) as src, zf.open(item.name, "w", force_zip64=item.size >= ZIP_LARGE) as dst:
                while data := src.read(chunk):
                    dst.write(data)
                    if (out := sink.drain()):
                        yield out
        if plan.skipped:
            zf.writestr(REPORT_NAME, "\n".join(f"документ {i}: {why}" for i, why in plan.skipped) + "\n")
    yield sink.drain()


def zip_name_quoted(today: date | None = None) -> str:
    return quote(f"документы-{(today or date.today()).isoformat()}.zip")


def _each(session: Session, actor: User, ids: list[int], act: Callable[[Document], str]) -> list[Outcome]:
    """Run `act` on each document the actor may view, each in its own transaction; collect each result."""
    outcomes: list[Outcome] = []
    for doc_id in ids:
        title, reg = "", ""
        try:
            doc = docs.get(session, actor, doc_id)
            title, reg = doc.title, doc.reg_number or ""
            message = act(doc)
            reg = doc.reg_number or ""
            session.commit()
            outcomes.append(Outcome(doc_id, title, reg, True, message))
        except (DmsError, Forbidden) as exc:
            session.rollback()
            outcomes.append(Outcome(doc_id, title, reg, False, _reason(exc)))
    return outcomes


def transition_each(session: Session, actor: User, ids: list[int], name: str, comment: str = "") -> list[Outcome]:
    """Apply transition `name` to each document in its own transaction; report each success or refusal."""
    def act(doc: Document) -> str:
        had_number = bool(doc.reg_number)
        wf_svc.execute(session, actor, doc, name, comment)
        if doc.reg_number and not had_number:
            return localize("выполнено, присвоен номер %(number)s", {"number": doc.reg_number})
        return localize("выполнено")
    return _each(session, actor, ids, act)


def move_each(session: Session, actor: User, ids: list[int], target: Folder) -> list[Outcome]:
    """Move each document to `target`, each in its own transaction; report each success or refusal."""
    target_path = target.name

    def act(doc: Document) -> str:
        docs.move(session, actor, doc, target)
        return localize("перемещён в «%(folder)s»", {"folder": target_path})
    return _each(session, actor, ids, act)


def outcome_json(o: Outcome) -> dict:
    return {"id": o.doc_id, "title": o.title, "reg_number": o.reg_number, "ok": o.ok, "message": o.message}
