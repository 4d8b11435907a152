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


def test_a_savepoint_released_runs_nothing_before_the_commit(rt) -> None:  # noqa: ANN001
    seen: list[str] = []
    with rt.db.session() as s:
        with s.begin_nested():  # as a notice written inside a signature's transaction (dms.approvals.notify)
            s.add(Folder(name="uow-savepoint", parent_id=folders.root(s).id))
            after_commit(s, lambda: seen.append("inner"))
        assert seen == []  # SQLAlchemy signals the release as a commit: not the transaction's
        after_commit(s, lambda: seen.append("outer"))
    assert seen == ["inner", "outer"]


def test_a_savepoint_rolled_back_drops_only_what_was_registered_inside_it(rt) -> None:  # noqa: ANN001
    seen: list[str] = []
    with rt.db.session() as s:
        after_commit(s, lambda: seen.append("before"))
        with pytest.raises(RuntimeError), s.begin_nested():
            after_commit(s, lambda: seen.append("inside"))
            raise RuntimeError("the savepoint's work failed")
        after_commit(s, lambda: seen.append("after"))
    assert seen == ["before", "after"]
    with pytest.raises(RuntimeError), rt.db.session() as s:  # the transaction rolled back: nothing at all
        with s.begin_nested():
            after_commit(s, lambda: seen.append("released, then rolled back"))
        raise RuntimeError("refused")
    assert seen == ["before", "after"]
