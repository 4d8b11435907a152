"""Roles × local roles (direct, inherited, blocked) × workflow states × permissions, against the tables."""
from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from dms.models import Document, User
from dms.security import (GLOBAL_ROLES, LOCAL_ROLES, ROLE_PERMISSIONS, P, access_filter, apply_filter_sql,
                          has_permission, visible_folder_ids)
from dms.documents import folders
from dms.documents import sharing
from dms.people import users
from dms.workflow.rules import WORKFLOWS

MODES = ("direct", "inherited", "blocked")


def expected(global_role: str | None, local_role: str | None, mode: str, doc_type: str, state: str,
             permission: P) -> bool:
    """The oracle, read straight from the two tables: the state's map if it names the permission, else the
    role table; a local role counts unless inheritance is blocked below the grant."""
    roles = {global_role} - {None}
    if local_role and mode != "blocked":
        roles.add(local_role)
    state_map = WORKFLOWS[doc_type].states[state].permissions
    holders = state_map[permission] if permission in state_map else {
        r for r, perms in ROLE_PERMISSIONS.items() if permission in perms}
    return bool(roles & set(holders))


@pytest.fixture
def matrix(rt):  # noqa: ANN001, ANN201
    """Folders /P/Leaf and /P/Blocked (blocks inheritance), one document per (type, state) in each, and one
    user per (global role, local role, mode)."""
    with rt.db.session() as s:
        leaf = folders.ensure(s, "/P/Leaf")
        blocked = folders.ensure(s, "/P/Blocked")
        blocked.block_inheritance = True
        parent = folders.resolve(s, "/P")
        owner = users.create_user(s, "owner", "Tq9-umbrella-river", ["Clerk"])
        for folder in (leaf, blocked):
            for doc_type, wf in WORKFLOWS.items():
                for state in wf.states:
                    s.add(Document(doc_type=doc_type, title=f"{doc_type}/{state}", folder_id=folder.id, state=state,
                                   meta={}, created_by_id=owner.id))
        people = []
        for g, l, mode in itertools.product((None, *GLOBAL_ROLES), (None, *LOCAL_ROLES), MODES):
            if l is None and mode != "direct":
                continue
            login = f"u-{g or 'none'}-{l or 'none'}-{mode}".lower()
            u = users.create_user(s, login, "Tq9-umbrella-river", [g] if g else [])
            if l:
                target = leaf if mode == "direct" else parent
                sharing.grant(s, None, target, f"user:{u.id}", l)
            people.append((login, g, l, mode))
        return people, leaf.id, blocked.id


def test_every_role_combination_state_and_permission_matches_the_tables(rt, matrix):  # noqa: ANN001
    people, leaf_id, blocked_id = matrix
    checked = 0
    with rt.db.session() as s:
        for login, g, l, mode in people:
            user = s.scalars(select(User).where(User.login == login)).one()
            folder_id = blocked_id if mode == "blocked" else leaf_id
            for doc in s.scalars(select(Document).where(Document.folder_id == folder_id)):
                for permission in P:
                    want = expected(g, l, mode, doc.doc_type, doc.state, permission)
                    got = has_permission(s, user, permission, doc)
                    assert got == want, (login, doc.doc_type, doc.state, permission)
                    checked += 1
    assert checked == len(people) * sum(len(wf.states) for wf in WORKFLOWS.values()) * len(P)


def test_the_search_filter_selects_exactly_what_the_check_allows(rt, matrix):  # noqa: ANN001
    people, *_ = matrix
    with rt.db.session() as s:
        all_docs = s.scalars(select(Document)).all()
        for login, *_rest in people:
            user = s.scalars(select(User).where(User.login == login)).one()
            for permission in (P.VIEW, P.EDIT, P.SIGN):
                flt = access_filter(s, user, permission)
                via_filter = set(s.scalars(apply_filter_sql(select(Document.id), flt)))
                via_check = {d.id for d in all_docs if has_permission(s, user, permission, d)}
                assert via_filter == via_check, (login, permission)


def test_blocking_inheritance_does_not_lock_out_the_person_who_blocks(rt):  # noqa: ANN001
    with rt.db.session() as s:
        top = folders.ensure(s, "/Отдел")
        inner = folders.ensure(s, "/Отдел/Личные дела")
        editor = users.create_user(s, "editor", "Tq9-umbrella-river", [])
        sharing.grant(s, None, top, f"user:{editor.id}", "Editor")
        assert has_permission(s, editor, P.MANAGE_SHARING, inner)
        sharing.set_block_inheritance(s, editor, inner, True)
        assert has_permission(s, editor, P.VIEW, inner) and has_permission(s, editor, P.MANAGE_SHARING, inner)
        reader = users.create_user(s, "reader", "Tq9-umbrella-river", [])
        sharing.grant(s, None, top, f"user:{reader.id}", "Reader")
        assert has_permission(s, reader, P.VIEW, top) and not has_permission(s, reader, P.VIEW, inner)


def test_group_grants_count_like_user_grants(rt):  # noqa: ANN001
    from dms.models import Group, GroupMember
    with rt.db.session() as s:
        f = folders.ensure(s, "/Группа")
        u = users.create_user(s, "member", "Tq9-umbrella-river", [])
        grp = Group(name="experts", title="Эксперты")
        s.add(grp)
        s.flush()
        s.add(GroupMember(group_id=grp.id, user_id=u.id))
        assert not has_permission(s, u, P.VIEW, f)
        sharing.grant(s, None, f, f"group:{grp.id}", "Reader")
        assert has_permission(s, u, P.VIEW, f) and not has_permission(s, u, P.EDIT, f)
        assert visible_folder_ids(s, u, {"Reader"}) == {f.id}


def test_signed_order_can_no_longer_be_edited_by_anyone(rt):  # noqa: ANN001
    with rt.db.session() as s:
        f = folders.ensure(s, "/Приказы")
        admin = users.create_user(s, "root", "Tq9-umbrella-river", ["Administrator"])
        doc = Document(doc_type="order", title="x", folder_id=f.id, state="signed", meta={})
        s.add(doc)
        s.flush()
        assert has_permission(s, admin, P.VIEW, doc)
        assert not has_permission(s, admin, P.EDIT, doc)
        doc.state = "draft"
        assert has_permission(s, admin, P.EDIT, doc)
