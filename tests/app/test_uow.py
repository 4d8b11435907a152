"""The unit of work's follow-ups (dms.uow): run once, in order, after the commit; dropped by a rollback; a failing one
never undoes the commit."""
from __future__ import annotations

import pytest

from dms.models import Folder
from dms.documents import folders
from dms.uow import after_commit


def test_follow_ups_run_after_the_commit_in_order_and_see_the_committed_rows(rt) -> None:  # noqa: ANN001
    seen: list[object] = []
    with rt.db.session() as s:
        f = Folder(name="uow", parent_id=folders.root(s).id)
        s.add(f)
        s.flush()
        fid = f.id

        def look() -> None:
            with rt.db.session() as other:  # another connection sees the row: it is committed
                seen.append(other.get(Folder, fid) is not None)

        after_commit(s, look)
        after_commit(s, lambda: seen.append("second"))
        assert seen == []
    assert seen == [True, "second"]


def test_a_rollback_drops_the_follow_ups(rt) -> None:  # noqa: ANN001
    seen: list[str] = []
    with pytest.raises(RuntimeError), rt.db.session() as s:
        after_commit(s, lambda: seen.append("ran"))
        raise RuntimeError("refused")
    assert seen == []


def test_a_failing_follow_up_neither_undoes_the_commit_nor_stops_the_next(rt) -> None:  # noqa: ANN001
    seen: list[str] = []
    with rt.db.session() as s:
        s.add(Folder(name="uow-kept", parent_id=folders.root(s).id))

        def boom() -> None:
            raise OSError("mail server down")

        after_commit(s, boom)
        after_commit(s, lambda: seen.append("next"))
    with rt.db.session() as s:
        assert s.query(Folder).filter_by(name="uow-kept").count() == 1
    assert seen == ["next"]
