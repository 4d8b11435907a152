"""Local roles on folders (Plone's Sharing tab). A change touches only the local_roles rows of one folder
(and the folder row for the inheritance switch), never the documents below it."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dms.errors import Invalid
from dms.models import Folder, Group, LocalRole, User
from dms.security import LOCAL_ROLES, P, forget_roles, holds_globally, inherited_chain, require
from dms.audit import service as audit


def principal_for(session: Session, *, login: str | None = None, group: str | None = None) -> str:
    if login:
        uid = session.scalar(select(User.id).where(User.login == login))
        if uid is None:
            raise Invalid("нет пользователя «%(login)s»", login=login)
        return f"user:{uid}"
    gid = session.scalar(select(Group.id).where(Group.name == group))
    if gid is None:
        raise Invalid("нет группы «%(group)s»", group=group)
    return f"group:{gid}"


def _check(session: Session, actor: User | None, folder: Folder) -> None:
    if actor is not None:
        require(session, actor, P.MANAGE_SHARING, folder)


def grant(session: Session, actor: User | None, folder: Folder, principal: str, role: str) -> None:
    if role not in LOCAL_ROLES:
        raise Invalid("неизвестная локальная роль; допустимые: %(known)s", known=", ".join(LOCAL_ROLES))
    _check(session, actor, folder)
    exists = session.scalar(select(LocalRole.id).where(
        LocalRole.folder_id == folder.id, LocalRole.principal == principal, LocalRole.role == role))
    if not exists:
        session.add(LocalRole(folder_id=folder.id, principal=principal, role=role))
        session.flush()
        forget_roles(session)
        audit.record(session, actor, "sharing.grant", "folder", folder.id, principal=principal, role=role)


def revoke(session: Session, actor: User | None, folder: Folder, principal: str, role: str) -> None:
    _check(session, actor, folder)
    row = session.scalars(select(LocalRole).where(
        LocalRole.folder_id == folder.id, LocalRole.principal == principal, LocalRole.role == role)).first()
    if row is not None:
        session.delete(row)
        session.flush()
        forget_roles(session)
        audit.record(session, actor, "sharing.revoke", "folder", folder.id, principal=principal, role=role)


def set_block_inheritance(session: Session, actor: User | None, folder: Folder, blocked: bool) -> None:
    _check(session, actor, folder)
    if folder.block_inheritance == blocked:
        return
    folder.block_inheritance = blocked
    forget_roles(session)
    if blocked and actor is not None and not holds_globally(actor, P.MANAGE_SHARING):
        # Blocking must not lock out the person who blocks.
        grant(session, None, folder, f"user:{actor.id}", "Editor")
    session.flush()
    audit.record(session, actor, "sharing.block" if blocked else "sharing.inherit", "folder", folder.id)


def describe(session: Session, folder: Folder) -> list[dict]:
    """Who holds which local role here, and whether it is inherited from above."""
    chain = inherited_chain(session, folder)
    rows = session.execute(select(LocalRole.folder_id, LocalRole.principal, LocalRole.role)
                           .where(LocalRole.folder_id.in_(chain))).all()
    names = _principal_names(session, {p for _, p, _ in rows})
    return [{"principal": names.get(p, p), "principal_id": p, "role": role, "inherited": fid != folder.id,
             "from_folder": fid} for fid, p, role in sorted(rows, key=lambda r: (r[1], r[2]))]


def _principal_names(session: Session, principals: set[str]) -> dict[str, str]:
    user_ids = [int(p.split(":")[1]) for p in principals if p.startswith("user:")]
    group_ids = [int(p.split(":")[1]) for p in principals if p.startswith("group:")]
    names = {f"user:{i}": login
             for i, login in session.execute(select(User.id, User.login).where(User.id.in_(user_ids)))}
    names.update({f"group:{i}": "группа " + n for i, n in
                  session.execute(select(Group.id, Group.name).where(Group.id.in_(group_ids)))})
    return names
