"""Who may do what: roles and permissions as data, one check for one object, one filter for many.

Global roles hold everywhere; local roles are granted on a folder to a user or a group and inherited down the
tree until a folder that blocks inheritance. A workflow state may override which roles hold a permission
(dms.workflow.rules); otherwise the table of dms.permissions decides.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterable

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from dms.models import Document, Folder, GroupMember, LocalRole, User
from dms.permissions import (  # noqa: F401  (the table, re-exported: checks and their permissions in one import)
    GLOBAL_ROLES, LOCAL_ROLES, P, PERMISSION_LABELS, ROLE_PERMISSIONS, Permission, permission_label, role_label,
    roles_with)
from dms.workflow.rules import state_permission_roles, states_where_roles_hold


class Forbidden(Exception):
    """The actor lacks a permission on an object. Views turn it into 403 (or 404 where View is missing)."""

    def __init__(self, permission: Permission, what: str = ""):
        super().__init__(f"нет права «{permission_label(permission, 'ru')}» {what}".strip())
        self.permission = permission
        self.what = what

    @property
    def message(self) -> str:
        """The refusal in the current request's language (`what` is a msgid, extracted as Forbidden's 2nd arg)."""
        from dms.errors import localize
        return " ".join(filter(None, [localize("нет права «%(permission)s»",
                                               {"permission": permission_label(self.permission)}),
                                      localize(self.what) if self.what else ""]))


def principals(session: Session, user: User) -> list[str]:
    groups = session.scalars(select(GroupMember.group_id).where(GroupMember.user_id == user.id)).all()
    return [f"user:{user.id}"] + [f"group:{g}" for g in groups]


@dataclass
class Grant:
    folder_id: int
    folder_path: str
    role: str


def _grants(session: Session, user: User) -> list[Grant]:
    rows = session.execute(
        select(LocalRole.folder_id, Folder.path, LocalRole.role)
        .join(Folder, Folder.id == LocalRole.folder_id)
        .where(LocalRole.principal.in_(principals(session, user)))
    ).all()
    return [Grant(*r) for r in rows]


def inherited_chain(session: Session, folder: Folder) -> list[int]:
    """The folders whose local roles apply to `folder`: itself and its ancestors up to (and including) the
    nearest one that blocks inheritance."""
    ids = folder.ancestor_ids
    blockers = set(session.scalars(select(Folder.id).where(Folder.id.in_(ids), Folder.block_inheritance)).all())
    chain: list[int] = []
    for fid in reversed(ids):
        chain.append(fid)
        if fid in blockers:
            break
    return chain


def local_roles(session: Session, user: User, folder: Folder) -> set[str]:
    chain = inherited_chain(session, folder)
    return set(session.scalars(
        select(LocalRole.role).where(LocalRole.folder_id.in_(chain),
                                     LocalRole.principal.in_(principals(session, user)))
    ).all())


_CACHE_KEY = "dms.roles_on_folder"
NAVIGABLE_KEY = "dms.navigable_folders"  # dms.documents.folders.navigable_ids memoises here


def forget_roles(session: Session) -> None:
    """Drop the per-session memos of roles and navigable folders; sharing changes and new folders call it."""
    session.info.pop(_CACHE_KEY, None)
    session.info.pop(NAVIGABLE_KEY, None)


def roles_on_folder(session: Session, user: User | None, folder: Folder) -> set[str]:
    """Global roles plus inherited local roles; memoised for the session (one request, one CLI command)."""
    if user is None or not user.is_active:
        return set()
    memo = session.info.setdefault(_CACHE_KEY, {})
    key = (user.id, folder.id, folder.path, folder.block_inheritance)
    if key not in memo:
        memo[key] = frozenset(set(user.global_roles) | local_roles(session, user, folder))
    return set(memo[key])


def allowed_roles(permission: Permission, doc_type: str | None = None, state: str | None = None) -> frozenset[str]:
    """Roles that hold `permission` on a document of this type in this state (state maps first)."""

    if doc_type is not None and state is not None:
        roles = state_permission_roles(doc_type, state, permission)
        if roles is not None:
            return roles
    return roles_with(permission)


def holds_globally(user: User | None, permission: Permission) -> bool:
    """A site permission (one not about a folder's documents, e.g. ManageBlanks): held through a global role."""
    return user is not None and user.is_active and bool(user.global_roles & roles_with(permission))


def has_permission(session: Session, user: User | None, permission: Permission, obj: Document | Folder) -> bool:
    if isinstance(obj, Document):
        roles = roles_on_folder(session, user, obj.folder)
        return bool(roles & allowed_roles(permission, obj.doc_type, obj.state))
    return bool(roles_on_folder(session, user, obj) & roles_with(permission))


def require(session: Session, user: User | None, permission: Permission, obj: Document | Folder) -> None:
    if not has_permission(session, user, permission, obj):
        raise Forbidden(permission)


def visible_folder_ids(session: Session, user: User, roles: Iterable[str]) -> set[int] | None:
    """Folders where the user holds one of `roles`, by a global role (None: every folder) or by a local grant
    inherited down to the first blocking folder. Cost: the user's grants plus one subtree query per grant —
    never proportional to the number of documents."""
    roles = set(roles)
    if user.global_roles & roles:
        return None
    result: set[int] = set()
    for grant in _grants(session, user):
        if grant.role not in roles:
            continue
        subtree = session.execute(
            select(Folder.id, Folder.path, Folder.block_inheritance).where(
                or_(Folder.id == grant.folder_id, Folder.path.startswith(grant.folder_path)))
        ).all()
        blocked_paths = [p for fid, p, blocked in subtree if blocked and fid != grant.folder_id]
        for fid, path, _ in subtree:
            if not any(path.startswith(bp) for bp in blocked_paths):
                result.add(fid)
    return result


@dataclass(frozen=True)
class AccessFilter:
    """Which documents a user may hold `permission` on: OR over clauses, each clause an AND of field->values.
    None clauses means everything. The same data drives the SQL filter and the search filter."""
    clauses: list[dict[str, set[str]]] | None


def access_filter(session: Session, user: User | None, permission: Permission = P.VIEW) -> AccessFilter:

    if user is None or not user.is_active:
        return AccessFilter([])
    clauses: list[dict[str, set[str]]] = []
    # Group the (type, state) pairs by the set of roles that hold the permission there.
    for roles, type_states in states_where_roles_hold(permission).items():
        folders = visible_folder_ids(session, user, roles)
        if folders is not None and not folders:
            continue
        for doc_type, states in type_states.items():
            clause: dict[str, set[str]] = {"doc_type": {doc_type}, "state": set(states)}
            if folders is not None:
                clause["folder_id"] = {str(f) for f in folders}
            clauses.append(clause)
    return AccessFilter(clauses)


def apply_filter_sql(stmt, flt: AccessFilter):  # noqa: ANN001, ANN201
    """The same AccessFilter as a SQL WHERE on Document."""
    if flt.clauses is None:
        return stmt
    columns = {"doc_type": Document.doc_type, "state": Document.state, "folder_id": Document.folder_id,
               "owner": Document.created_by_id}
    ors = []
    for clause in flt.clauses:
        conds = []
        for field, values in clause.items():
            col = columns[field]
            vals = [int(v) for v in values] if field in ("folder_id", "owner") else list(values)
            conds.append(col.in_(vals))
        ors.append(and_(*conds))
    if not ors:
        return stmt.where(False)
    return stmt.where(or_(*ors))
