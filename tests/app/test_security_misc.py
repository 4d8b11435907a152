"""Issue 16, item 7: smaller points (folder names that read as what they are)."""
from __future__ import annotations

import pytest

from dms.errors import Invalid
from dms.documents import folders


@pytest.mark.parametrize("name", ["Приказы\u202eфдп.exe", "a\u2066b", "x\u200fy", "zero\u200bwidth", "c1\x9b"])
def test_bidi_and_invisible_characters_are_refused_in_folder_names(rt, name):  # noqa: ANN001
    with rt.db.session() as s, pytest.raises(Invalid, match="невидимые"):
        folders.create(s, None, folders.root(s), name)


def test_an_ordinary_russian_folder_name_is_kept(rt):  # noqa: ANN001
    with rt.db.session() as s:
        assert folders.create(s, None, folders.root(s), "Приказы 2026 (№ 5)").name == "Приказы 2026 (№ 5)"


def test_the_batch_issue_form_does_not_open_for_a_practice_holder_and_writes_nothing(client, rt, world):  # noqa: ANN001
    import io

    from sqlalchemy import func, select

    from dms.models import IssueBatch, Organisation
    from dms.people import users as users_svc
    from .conftest import csrf_of
    with rt.db.session() as s:
        org = Organisation(code="PH-1", name="ООО «Практика»", kind="practice_holder")
        s.add(org)
        s.flush()
        users_svc.create_user(s, "holder", "correct-horse-battery", [], organisation=org)
    world.share("/", "holder", "Counterparty")
    world.login(client, "holder")
    assert client.get("/certificates/issue").status_code == 404
    token = csrf_of(client, "/")
    r = client.post("/certificates/issue", data={
        "csrf_token": token, "centre": "PH-1", "confirm": "1", "pin": "whatever-pin",
        "file": (io.BytesIO("ФИО;СНИЛС\nИванов Иван Иванович;112-233-445 95\n".encode()), "results.csv")},
        content_type="multipart/form-data")
    assert r.status_code == 404
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(IssueBatch)) == 0
