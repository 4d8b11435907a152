"""The folder tree: create, resolve "/A/B" paths, list contents."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from dms.errors import Conflict, Invalid, NotFound
from dms.models import Document, Folder, Organisation, User
from dms.security import P, access_filter, apply_filter_sql, forget_roles, require
from dms.audit import service as audit

ROOT_NAME = "Архив"
_BAD_NAME = re.compile(r"[/\\\x00-\x1f]")
# Bidirectional controls and other invisible format characters (issue 16): a name that reads differently from
# what it is ("cod\u202eexe.pdf") is refused, as are C1 controls.
_INVISIBLE = re.compile("[\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def root(session: Session) -> Folder:
    folder = session.scalars(select(Folder).where(Folder.parent_id.is_(None)).order_by(Folder.id)).first()
    if folder is None:
        folder = Folder(name=ROOT_NAME, parent_id=None)
        session.add(folder)
        session.flush()
        folder.path = f"/{folder.id}/"
    return folder


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > 200 or _BAD_NAME.search(name) or name in (".", ".."):
        raise Invalid("имя папки: от 1 до 200 символов, без / и \\")
    if _INVISIBLE.search(name):
        raise Invalid("имя папки не может содержать невидимые и управляющие направлением текста символы")
    return name


def create(session: Session, actor: User | None, parent: Folder, name: str,
           organisation: Organisation | None = None) -> Folder:
    """A new folder under `parent`; `actor` None is the system (init, demo)."""
    if actor is not None:
        require(session, actor, P.ADD, parent)
    name = _clean_name(name)
    if session.scalar(select(Folder.id).where(Folder.parent_id == parent.id, Folder.name == name)):
        raise Conflict("папка «%(name)s» уже есть", name=name)
    folder = Folder(name=name, parent_id=parent.id, organisation_id=organisation.id if organisation else None)
    session.add(folder)
    session.flush()
    folder.path = f"{parent.path}{folder.id}/"
    forget_roles(session)  # the new folder is open to whoever may open its parent's subtree
    audit.record(session, actor, "folder.create", "folder", folder.id, name=name, parent=parent.id)
    return folder


def split_path(path: str) -> list[str]:
    return [p for p in path.strip().split("/") if p]


def resolve(session: Session, path: str) -> Folder:
    folder = root(session)
    for part in split_path(path):
        child = session.scalars(select(Folder).where(Folder.parent_id == folder.id, Folder.name == part)).first()
        if child is None:
            raise NotFound("нет папки «%(path)s»", path=path)
        folder = child
    return folder


def ensure(session: Session, path: str, organisation: Organisation | None = None) -> Folder:
    """Resolve a path, creating missing folders as the system (used by init/demo, never by users)."""
    folder = root(session)
    for part in split_path(path):
        child = session.scalars(select(Folder).where(Folder.parent_id == folder.id, Folder.name == part)).first()
        folder = child or create(session, None, folder, part, organisation)
    return folder


def get(session: Session, folder_id: int) -> Folder:
    folder = session.get(Folder, folder_id)
    if folder is None:
        raise NotFound("папка не найдена")
    return folder


def breadcrumbs(session: Session, folder: Folder) -> list[Folder]:
    ids = folder.ancestor_ids
    by_id = {f.id: f for f in session.scalars(select(Folder).where(Folder.id.in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]


def display_path(session: Session, folder: Folder) -> str:
    return "/" + "/".join(f.name for f in breadcrumbs(session, folder)[1:])


def children(session: Session, folder: Folder) -> list[Folder]:
    return list(session.scalars(select(Folder).where(Folder.parent_id == folder.id).order_by(Folder.name)))


def documents(session: Session, actor: User, folder: Folder, *, limit: int = 50, offset: int = 0,
              doc_type: str | None = None, state: str | None = None) -> tuple[int, list[Document]]:
    """The documents of a folder that `actor` may view (the same filter search uses)."""
    from dms.records.service import not_trashed_clause
    stmt = apply_filter_sql(select(Document).where(Document.folder_id == folder.id, not_trashed_clause()),
                            access_filter(session, actor))
    if doc_type:
        stmt = stmt.where(Document.doc_type == doc_type)
    if state:
        stmt = stmt.where(Document.state == state)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(Document.created_at.desc(), Document.id.desc()).limit(limit).offset(offset))
    return total or 0, list(rows)


def navigable_ids(session: Session, actor: User) -> set[int] | None:
    """Folders `actor` may open in navigation: those where they may view some document (by default, or only in
    some workflow states — a Counterparty sees their agreements once signed by the agency) and every ancestor of
    those (an ancestor shows only the way down, not its documents). None: every folder. Memoised for the session
    (a page asks for it for the listing, the tree and the links); sharing changes and new folders forget it."""
    from dms.security import NAVIGABLE_KEY, visible_folder_ids
    from dms.workflow.rules import states_where_roles_hold
    memo = session.info.setdefault(NAVIGABLE_KEY, {})
    if actor.id not in memo:
        viewers = set().union(*states_where_roles_hold(P.VIEW))
        visible = visible_folder_ids(session, actor, viewers)
        if visible is None:
            memo[actor.id] = None
        else:
            paths = session.scalars(select(Folder.path).where(Folder.id.in_(visible))).all() if visible else []
            memo[actor.id] = frozenset(visible) | {int(i) for p in paths for i in p.strip("/").split("/") if i}
    return None if memo[actor.id] is None else set(memo[actor.id])


def can_navigate(session: Session, actor: User, folder: Folder) -> bool:
    ids = navigable_ids(session, actor)
    return ids is None or folder.id in ids


@dataclass
class TreeNode:
    id: int
    name: str
    current: bool = False
    open: bool = False                      # on the way to the current folder: its children are shown
    children: list[TreeNode] = field(default_factory=list)


def tree(session: Session, actor: User, current: Folder) -> TreeNode:
    """The navigation tree of Plone's portlet: the way from the root to `current`, each folder on it opened to its
    children, only folders `actor` may navigate. One query for the children of the whole way."""
    way = current.ancestor_ids
    navigable = navigable_ids(session, actor)
    rows = session.execute(select(Folder.id, Folder.name, Folder.parent_id)
                           .where(or_(Folder.parent_id.in_(way), Folder.id == way[0]))
                           .order_by(Folder.name)).all()
    nodes = {fid: TreeNode(fid, name, current=fid == current.id, open=fid in way) for fid, name, _ in rows
             if navigable is None or fid in navigable}
    for fid, _, parent in rows:
        if fid in nodes and parent in nodes:
            nodes[parent].children.append(nodes[fid])
    return nodes.get(way[0]) or TreeNode(way[0], ROOT_NAME)
