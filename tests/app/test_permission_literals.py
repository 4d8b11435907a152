"""Site duties (records management, the PKI, user administration, blanks) are held through a global role of the one
permission table, and only so: a role *name* written anywhere else — a login, a full name, a group called
«Administrator», a local role — gives nothing (issue 13: "a second admin cannot be bypassed by a role literal")."""
from __future__ import annotations

import pytest

from dms.documents import folders, sharing
from dms.errors import Invalid
from dms.people import groups, users
from dms.permissions import GLOBAL_ROLES, ROLE_PERMISSIONS, P
from dms.records import service as records
from dms.security import Forbidden, holds_globally

SITE_PERMISSIONS = (P.MANAGE_RECORDS, P.READ_RECORDS, P.MANAGE_PKI, P.MANAGE_USERS, P.MANAGE_BLANKS)


def test_a_local_role_named_like_a_global_role_cannot_be_granted(rt, world) -> None:  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.folder("/Архив")
    for role in GLOBAL_ROLES:
        with rt.db.session() as s, pytest.raises(Invalid):
            sharing.grant(s, None, folders.resolve(s, "/Архив"), sharing.principal_for(s, login="clerk"), role)


def test_a_login_a_name_or_a_group_called_administrator_holds_no_site_permission(rt, world) -> None:  # noqa: ANN001
    world.user("Administrator")  # a login that spells the role, with no role at all
    world.user("clerk", "Clerk")
    with rt.db.session() as s:
        users.create_user(s, "pretender", "Kr3p-Parol-9x!", (), full_name="Administrator")
        group = groups.create(s, None, "Administrator", "Administrator")
        groups.add_member(s, None, group, users.get_user(s, "clerk"))
    world.folder("/Архив")
    world.share("/Архив", "clerk", "Editor")  # the most a local role can give, on a folder
    with rt.db.session() as s:
        for login in ("Administrator", "pretender", "clerk"):
            user = users.get_user(s, login)
            held = {p for p in SITE_PERMISSIONS if holds_globally(user, p)}
            expected = {p for p in SITE_PERMISSIONS for r in user.global_roles if p in ROLE_PERMISSIONS[r]}
            assert held == expected, login
            assert P.MANAGE_RECORDS not in held, login
            with pytest.raises(Forbidden):
                records.propose(s, user)


def test_the_second_administrator_of_a_disposition_must_hold_the_duty_through_a_global_role(rt, world) -> None:  # noqa: ANN001
    """Four eyes: whoever approves a list proposed by another must hold ManageRecords; a clerk in a group called
    «Administrator» is refused exactly like any clerk."""
    world.user("admin", "Administrator")
    world.user("clerk", "Clerk")
    with rt.db.session() as s:
        group = groups.create(s, None, "Administrator", "")
        groups.add_member(s, None, group, users.get_user(s, "clerk"))
        assert not records.can(users.get_user(s, "clerk"), "manage")
        assert records.can(users.get_user(s, "admin"), "manage")
        with pytest.raises(Forbidden):
            records.approve(s, users.get_user(s, "clerk"), 1)
