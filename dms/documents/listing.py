"""The contents table of a folder: sorting, filters and paging over the documents a user may view."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, UTC
from collections.abc import Mapping

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from dms.errors import Invalid, localize
from dms.models import Document, Folder, Organisation, User
from dms.security import P, access_filter, apply_filter_sql
from dms.workflow.rules import WORKFLOWS
from dms.idrange import digits

# Column name in the query string -> what it orders by; Document.id last keeps equal keys in a stable order.
SORT_COLUMNS = {
    "reg": Document.reg_number,
    "title": Document.title,
    "type": Document.doc_type,
    "state": Document.state,
    "date": Document.updated_at,
}
DEFAULT_SORT, DEFAULT_DIR = "date", "desc"


@dataclass(frozen=True)
class ListingQuery:
    sort: str = DEFAULT_SORT
    direction: str = DEFAULT_DIR
    doc_type: str | None = None
    state: str | None = None
    organisation_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1

    def args(self, **changes: object) -> dict[str, object]:
        """Query-string parameters of this query with `changes` applied (for links that keep the rest)."""
        q = replace(self, **changes)  # type: ignore[arg-type]  # the keys are the dataclass fields, checked by replace()
        raw = {"sort": q.sort, "dir": q.direction, "type": q.doc_type, "state": q.state,
               "org": q.organisation_id, "from": q.date_from.isoformat() if q.date_from else None,
               "to": q.date_to.isoformat() if q.date_to else None, "page": q.page if q.page > 1 else None}
        return {k: v for k, v in raw.items() if v not in (None, "")}

    def sort_args(self, column: str) -> dict[str, object]:
        """The link of a column header: sort by it, flipping the direction if it is already the sort."""
        flipped = "asc" if self.direction == "desc" else "desc"
        return self.args(sort=column, direction=flipped if column == self.sort else "asc", page=1)


def parse_day(raw: str | None, name: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid("%(field)s: ожидается дата ГГГГ-ММ-ДД", field=name) from None


def parse(args: Mapping[str, str]) -> ListingQuery:
    """A ListingQuery from request parameters; unknown sort columns and types fall back to the defaults."""
    sort = args.get("sort", DEFAULT_SORT)
    direction = args.get("dir", "asc" if sort != DEFAULT_SORT else DEFAULT_DIR)
    page = args.get("page", "1")
    org = args.get("org", "")
    doc_type = args.get("type") or None
    return ListingQuery(
        sort=sort if sort in SORT_COLUMNS else DEFAULT_SORT,
        direction=direction if direction in ("asc", "desc") else DEFAULT_DIR,
        doc_type=doc_type if doc_type in WORKFLOWS else None,
        state=(args.get("state") or None),
        organisation_id=int(org) if digits(org) else None,
        date_from=parse_day(args.get("from", ""), localize("Изменён с")),
        date_to=parse_day(args.get("to", ""), localize("Изменён по")),
        page=max(1, int(page)) if digits(page) else 1,
    )


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def not_trashed():  # noqa: ANN201
    """Documents in the trash leave every listing (records management decides what the trash is)."""
    try:
        from dms.records.service import not_trashed_clause
    except ImportError:  # an installation without records management: nothing is ever trashed
        return true()
    return not_trashed_clause()


def _visible_in(session: Session, actor: User, folder: Folder):  # noqa: ANN202
    return apply_filter_sql(select(Document).where(Document.folder_id == folder.id, not_trashed()),
                            access_filter(session, actor, P.VIEW))


def documents(session: Session, actor: User, folder: Folder, q: ListingQuery,
              page_size: int = 50) -> tuple[int, list[Document]]:
    """(total, one page) of the folder's documents `actor` may view, filtered and sorted as `q` says."""
    stmt = _visible_in(session, actor, folder)
    if q.doc_type:
        stmt = stmt.where(Document.doc_type == q.doc_type)
    if q.state:
        stmt = stmt.where(Document.state == q.state)
    if q.organisation_id:
        stmt = stmt.where(Document.organisation_id == q.organisation_id)
    if q.date_from:
        stmt = stmt.where(Document.updated_at >= _start_of(q.date_from))
    if q.date_to:
        stmt = stmt.where(Document.updated_at < _start_of(q.date_to + timedelta(days=1)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    column = SORT_COLUMNS[q.sort]
    key = column.asc() if q.direction == "asc" else column.desc()
    tie = Document.id.asc() if q.direction == "asc" else Document.id.desc()
    # documents without a number go last either way
    stmt = stmt.order_by(Document.reg_number.is_(None), key, tie) if q.sort == "reg" else stmt.order_by(key, tie)
    rows = session.scalars(stmt.limit(page_size).offset((q.page - 1) * page_size))
    return total, list(rows)


def organisations(session: Session, actor: User, folder: Folder) -> list[Organisation]:
    """Organisations of the visible documents of the folder: the choices of the organisation filter."""
    ids = _visible_in(session, actor, folder).with_only_columns(Document.organisation_id).distinct()
    return list(session.scalars(select(Organisation).where(Organisation.id.in_(ids.scalar_subquery()))
                                .order_by(Organisation.short_name, Organisation.name)))


def state_choices(doc_type: str | None) -> list[tuple[str, str]]:
    """(state, title in the current language) for the state filter: of one type, or of every type, titles merged."""
    titles: dict[str, list[str]] = {}
    for code, wf in WORKFLOWS.items():
        if doc_type and code != doc_type:
            continue
        for state in wf.states.values():
            if state.title not in titles.setdefault(state.name, []):
                titles[state.name].append(state.title)
    return sorted(((name, " / ".join(t)) for name, t in titles.items()), key=lambda kv: kv[1])


def transition_choices(docs: list[Document]) -> list[tuple[str, str]]:
    """(transition, title) that may apply to some of `docs`, signing steps excluded (they need a PIN), and steps
    only their own service takes (a certificate's revocation, replacement, expiry)."""
    titles: dict[str, list[str]] = {}
    for doc in docs:
        for t in WORKFLOWS[doc.doc_type].transitions.values():
            if t.permission is P.SIGN or t.service or doc.state not in t.sources:  # service steps: own pages
                continue
            if t.title not in titles.setdefault(t.name, []):
                titles[t.name].append(t.title)
    return sorted(((name, " / ".join(t)) for name, t in titles.items()), key=lambda kv: kv[1])


MOVE_TARGETS_LIMIT = 500


def move_targets(session: Session, actor: User, source: Folder) -> list[tuple[int, str]]:
    """(folder id, "/path/of/names") of the folders `actor` may move documents of `source` into: none unless they
    may change `source`'s contents (Edit), then every other folder where they may add, in path order."""
    from dms.security import has_permission, roles_with, visible_folder_ids
    if not has_permission(session, actor, P.EDIT, source):
        return []
    allowed = visible_folder_ids(session, actor, roles_with(P.ADD))
    rows = session.execute(select(Folder.id, Folder.name, Folder.path, Folder.parent_id)).all()
    names = {fid: name for fid, name, _, _ in rows}
    targets = []
    for fid, _, path, parent in rows:
        if fid == source.id or (allowed is not None and fid not in allowed):
            continue
        chain = [int(i) for i in path.strip("/").split("/") if i]
        targets.append((fid, "/" + "/".join(names[i] for i in chain[1:] if i in names) if parent else "/"))
    return sorted(targets, key=lambda t: t[1])[:MOVE_TARGETS_LIMIT]
