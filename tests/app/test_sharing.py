"""Sharing changes touch a bounded number of rows and take effect at once."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event, insert, select

from dms.models import Document, User
from dms.security import P, access_filter, apply_filter_sql, has_permission
from dms.documents import folders
from dms.documents import sharing
from dms.people import users


@contextmanager
def rows_written(engine):  # noqa: ANN001, ANN201
    counter = {"rows": 0, "statements": []}

    def count(conn, cursor, statement, params, context, executemany):  # noqa: ANN001
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE"):
            counter["rows"] += max(cursor.rowcount, 0)
            counter["statements"].append(statement.split("(")[0][:60])

    event.listen(engine, "after_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(engine, "after_cursor_execute", count)


def test_sharing_a_10000_document_subtree_touches_a_bounded_number_of_rows(rt):  # noqa: ANN001
    with rt.db.session() as s:
        top = folders.ensure(s, "/Архив ЦОК")
        subs = [folders.ensure(s, f"/Архив ЦОК/{year}/{month:02d}") for year in (2024, 2025) for month in range(1, 13)]
        owner = users.create_user(s, "owner", "long-password", ["Clerk"])
        reader = users.create_user(s, "reader", "long-password", [])
        s.execute(insert(Document), [
            {"doc_type": "order", "title": f"Приказ {i}", "folder_id": subs[i % len(subs)].id, "state": "registered",
             "meta": {}, "revision": 1, "created_by_id": owner.id} for i in range(10_000)])
        top_id, reader_id = top.id, reader.id

    with rows_written(rt.db.engine) as grant_rows, rt.db.session() as s:
        sharing.grant(s, None, folders.get(s, top_id), f"user:{reader_id}", "Reader")
    with rt.db.session() as s:
        reader = s.get(User, reader_id)
        visible = s.scalars(apply_filter_sql(select(Document.id), access_filter(s, reader))).all()
        assert len(visible) == 10_000

    with rows_written(rt.db.engine) as block_rows, rt.db.session() as s:
        sharing.set_block_inheritance(s, None, folders.resolve(s, "/Архив ЦОК/2025"), True)
    with rt.db.session() as s:
        reader = s.get(User, reader_id)
        visible = s.scalars(apply_filter_sql(select(Document.id), access_filter(s, reader))).all()
        blocked_path = folders.resolve(s, "/Архив ЦОК/2025").path
        in_2025 = set(s.scalars(select(Document.id).join(Document.folder).where(
            folders.Folder.path.startswith(blocked_path))))
        assert 4_000 < len(in_2025) < 6_000
        assert len(visible) == 10_000 - len(in_2025) and not set(visible) & in_2025
        assert not has_permission(s, reader, P.VIEW, s.get(Document, min(in_2025)))

    print(f"grant: {grant_rows['rows']} rows {grant_rows['statements']}; "
          f"block: {block_rows['rows']} rows {block_rows['statements']}")
    # One local-role row and its audit event (+ the audit chain head); one folder row and its audit event.
    assert grant_rows["rows"] <= 4
    assert block_rows["rows"] <= 4


def test_sharing_page_shows_inherited_and_local_roles_and_changes_take_effect(world, client):  # noqa: ANN001
    world.user("clerk", "Clerk")
    world.user("reader")
    world.folder("/Отдел/Дела")
    world.share("/Отдел", "reader", "Reader")
    world.login(client, "clerk")
    with world.rt.db.session() as s:
        inner = folders.resolve(s, "/Отдел/Дела").id
    page = client.get(f"/folders/{inner}/sharing").get_data(as_text=True)
    assert "reader" in page and "унаследовано" in page
    from .conftest import csrf_of
    token = csrf_of(client, f"/folders/{inner}/sharing")
    r = client.post(f"/folders/{inner}/sharing", data={"csrf_token": token, "action": "block", "blocked": "1"})
    assert r.status_code == 302
    page = client.get(f"/folders/{inner}/sharing").get_data(as_text=True)
    assert "унаследовано" not in page and "отключено" in page
    r = client.post(f"/folders/{inner}/sharing", data={"csrf_token": token, "action": "grant",
                                                      "principal": "reader", "role": "Editor"})
    assert r.status_code == 302
    with world.rt.db.session() as s:
        reader = users.get_user(s, "reader")
        assert has_permission(s, reader, P.EDIT, folders.get(s, inner))
