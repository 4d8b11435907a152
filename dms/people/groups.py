"""Groups of users and their members (local roles can be granted to a group: dms.documents.sharing), and the search
of users and groups the sharing page's picker asks. Changing groups needs ManageUsers; None is the system (CLI)."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dms.errors import Invalid, NotFound
from dms.models import Group, GroupMember, User
from dms.security import forget_roles
from dms.audit import service as audit
from dms.people.users import require_user_admin

NAME_CHARS = "._-"


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in NAME_CHARS for c in name):
        raise Invalid("имя группы: буквы, цифры и . _ -, не длиннее 64 символов")
    return name


def create(session: Session, actor: User | None, name: str, title: str = "") -> Group:
    require_user_admin(actor)
    name = _clean_name(name)
    if session.scalar(select(Group.id).where(Group.name == name)):
        raise Invalid("группа «%(name)s» уже есть", name=name)
    group = Group(name=name, title=title.strip()[:300])
    session.add(group)
    session.flush()
    audit.record(session, actor, "group.create", "group", group.id, name=name, title=group.title)
    return group


def get(session: Session, name: str) -> Group:
    group = session.scalars(select(Group).where(Group.name == name.strip())).first()
    if group is None:
        raise NotFound("нет группы «%(name)s»", name=name)
    return group


def get_by_id(session: Session, group_id: int) -> Group:
    group = session.get(Group, group_id)
    if group is None:
        raise NotFound("группа не найдена")
    return group


def all_groups(session: Session) -> list[Group]:
    return list(session.scalars(select(Group).order_by(Group.name)).all())


def member_counts(session: Session) -> dict[int, int]:
    rows = session.execute(select(GroupMember.group_id, func.count()).group_by(GroupMember.group_id)).all()
    return {gid: n for gid, n in rows}


def members(session: Session, group: Group) -> list[User]:
    return list(session.scalars(select(User).join(GroupMember, GroupMember.user_id == User.id)
                                .where(GroupMember.group_id == group.id).order_by(User.login)).all())


def groups_of(session: Session, user: User) -> list[Group]:
    return list(session.scalars(select(Group).join(GroupMember, GroupMember.group_id == Group.id)
                                .where(GroupMember.user_id == user.id).order_by(Group.name)).all())


def names_by_user(session: Session) -> dict[int, list[str]]:
    """Every user's group names (one query, for lists of users)."""
    rows = session.execute(select(GroupMember.user_id, Group.name).join(Group, Group.id == GroupMember.group_id)
                           .order_by(Group.name)).all()
    result: dict[int, list[str]] = {}
    for uid, name in rows:
        result.setdefault(uid, []).append(name)
    return result


def add_member(session: Session, actor: User | None, group: Group, user: User) -> bool:
    """True if the user was added (False: already a member)."""
    require_user_admin(actor)
    if session.get(GroupMember, (group.id, user.id)) is not None:
        return False
    session.add(GroupMember(group_id=group.id, user_id=user.id))
    session.flush()
    forget_roles(session)  # the group's local roles now apply to the user
    audit.record(session, actor, "group.member_add", "group", group.id, group=group.name, member=user.login)
    return True


def remove_member(session: Session, actor: User | None, group: Group, user: User) -> bool:
    """True if the user was removed (False: was not a member)."""
    require_user_admin(actor)
    row = session.get(GroupMember, (group.id, user.id))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    forget_roles(session)
    audit.record(session, actor, "group.member_remove", "group", group.id, group=group.name, member=user.login)
    return True


def set_groups_of(session: Session, actor: User | None, user: User, group_ids: list[int]) -> None:
    """Make the user a member of exactly these groups (unknown ids refused)."""
    require_user_admin(actor)
    wanted = {g.id: g for g in session.scalars(select(Group).where(Group.id.in_(group_ids)))}
    if len(wanted) != len(set(group_ids)):
        raise Invalid("группа не найдена")
    current = {g.id: g for g in groups_of(session, user)}
    for gid in current.keys() - wanted.keys():
        remove_member(session, actor, current[gid], user)
    for gid in wanted.keys() - current.keys():
        add_member(session, actor, wanted[gid], user)


def find_principals(session: Session, query: str, limit: int = 10) -> list[dict]:
    """Users (active ones) and groups whose login, name or title contains `query`, for the sharing picker:
    [{"principal": "user:12", "kind": "user", "id": 12, "name": "ivanov", "label": "Иванов И. И. (ivanov)"}]."""
    q = query.strip().casefold()
    if not q:
        return []
    # Compared in Python: SQLite's lower() folds only ASCII, and people's names are Cyrillic. A few thousand users
    # and groups at most: one pass over logins and names.
    users = [u for u in session.scalars(select(User).where(User.is_active).order_by(User.login))
             if q in u.login.casefold() or q in (u.full_name or "").casefold()][:limit]
    groups = [g for g in session.scalars(select(Group).order_by(Group.name))
              if q in g.name.casefold() or q in (g.title or "").casefold()][:limit]
    found = [{"principal": f"user:{u.id}", "kind": "user", "id": u.id, "name": u.login,
              "label": f"{u.full_name} ({u.login})" if u.full_name else u.login} for u in users]
    found += [{"principal": f"group:{g.id}", "kind": "group", "id": g.id, "name": g.name,
               "label": f"{g.title} (group:{g.name})" if g.title else f"group:{g.name}"} for g in groups]
    return found[:limit]
