"""Issue 20.2: public lookups are audited without the chain lock (one INSERT each) and folded into the chain in
batches; `dms audit verify` still names a folded lookup event that was altered or deleted."""
from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select

from dms.cli import main as dms_main
from dms.models import AuditEvent
from dms.audit import service as audit


def _lookups(client, n: int) -> None:  # noqa: ANN001
    for i in range(n):
        r = client.get(f"/api/v1/verify?number=АА {i:06d}&surname=Нет")
        assert r.status_code == 404


def _lookup_events(rt) -> list[AuditEvent]:  # noqa: ANN001
    with rt.db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == "verification").order_by(AuditEvent.id)))


def _cli(settings, *args: str):  # noqa: ANN001, ANN202
    env = {"DMS_DATA_DIR": str(settings.data_dir), "DMS_DATABASE_URL": settings.database_url,
           "DMS_STORAGE_URL": settings.storage_url, "DMS_INDEX_DIR": str(settings.index_dir),
           "DMS_SECRET_KEY": "x"}
    return CliRunner().invoke(dms_main, list(args), env=env)


def test_every_lookup_is_recorded_without_the_chain_head_and_folded_by_the_next_chained_write(rt, client, world):  # noqa: ANN001
    with rt.db.session() as s:
        head_before = s.get(audit.AuditHead, 1)
        head_id = head_before.last_event_id if head_before else 0
    _lookups(client, 3)
    events = _lookup_events(rt)
    assert len(events) == 3 and all(ev.prev_hash == audit.PENDING for ev in events)
    assert all(ev.details["found"] is False and ev.details["channel"] == "number" for ev in events)
    with rt.db.session() as s:
        head = s.get(audit.AuditHead, 1)
        assert (head.last_event_id if head else 0) == head_id  # the lookups did not touch the chain's end
    world.user("latecomer", "Clerk")  # a chained write folds them
    events = _lookup_events(rt)
    with rt.db.session() as s:
        fold = s.scalars(select(AuditEvent).where(AuditEvent.action == audit.FOLD_ACTION)).one()
        assert [e[0] for e in fold.details["events"]] == [ev.id for ev in events]
        assert all(ev.prev_hash == f"fold:{fold.id}" and ev.hash == audit.event_hash(ev) for ev in events)
        assert list(audit.verify_chain(s)) == []


def test_every_fold_every_th_lookup_folds_the_pending_ones_itself(rt, client, monkeypatch):  # noqa: ANN001
    monkeypatch.setattr(audit, "FOLD_EVERY", 4)
    _lookups(client, 9)
    events = _lookup_events(rt)
    pending = [ev for ev in events if ev.prev_hash == audit.PENDING]
    assert len(events) == 9 and len(pending) < 4  # only those after the last multiple of FOLD_EVERY wait
    with rt.db.session() as s:
        assert list(audit.verify_chain(s)) == []


def test_audit_verify_folds_unfolded_lookups_and_then_verifies_them(rt, client, settings):  # noqa: ANN001
    _lookups(client, 2)
    assert all(ev.prev_hash == audit.PENDING for ev in _lookup_events(rt))
    r = _cli(settings, "audit", "verify")
    assert r.exit_code == 0, r.output
    events = _lookup_events(rt)
    assert all(ev.prev_hash.startswith(audit.FOLDED_PREFIX) for ev in events)
    with rt.db.session() as s:  # now covered: altering one is named
        s.get(AuditEvent, events[1].id).details = {**events[1].details, "found": True}
    r = _cli(settings, "audit", "verify")
    assert r.exit_code == 1 and f"событии {events[1].id}" in r.output


def test_altering_a_folded_lookup_event_is_named_even_with_its_hash_recomputed(rt, client, world):  # noqa: ANN001
    _lookups(client, 3)
    world.user("latecomer", "Clerk")
    target = _lookup_events(rt)[1]
    with rt.db.session() as s:
        ev = s.get(AuditEvent, target.id)
        ev.details = {**ev.details, "found": True}
    with rt.db.session() as s:
        assert [(p.event_id, p.reason) for p in audit.verify_chain(s)] == [(target.id, "содержимое события изменено")]
        ev = s.get(AuditEvent, target.id)
        ev.hash = audit.event_hash(ev)  # what someone holding the database does next
    with rt.db.session() as s:
        assert [p.event_id for p in audit.verify_chain(s)] == [target.id]  # the fold keeps its hash


def test_deleting_a_folded_lookup_event_is_named(rt, client, world):  # noqa: ANN001
    _lookups(client, 3)
    world.user("latecomer", "Clerk")
    target = _lookup_events(rt)[0]
    with rt.db.session() as s:
        s.delete(s.get(AuditEvent, target.id))
    with rt.db.session() as s:
        problems = list(audit.verify_chain(s))
    assert [p.event_id for p in problems] == [target.id] and "удалено" in problems[0].reason


def test_a_lookup_event_moved_into_a_fold_that_does_not_list_it_is_named(rt, client, world):  # noqa: ANN001
    _lookups(client, 2)
    world.user("latecomer", "Clerk")
    fold_id = int(_lookup_events(rt)[0].prev_hash.split(":")[1])
    with rt.db.session() as s:  # a forged lookup event claiming that fold
        forged = AuditEvent(actor_login="", action="verification", object_type="certificate",
                            details={"found": True}, prev_hash=f"fold:{fold_id}", hash="")
        s.add(forged)
        s.flush()
        forged.hash = audit.event_hash(forged)
        forged_id = forged.id
    with rt.db.session() as s:
        assert [p.event_id for p in audit.verify_chain(s)] == [forged_id]


# --- group commit of lookup events (LookupLog) ---------------------------------------------------------------------


def test_lookups_answered_at_once_share_commits_and_each_keeps_its_own_event(rt, app, monkeypatch):  # noqa: ANN001
    """Eight threads asking at once: every lookup has its event, committed before its answer, in fewer
    transactions than lookups (a commit in flight gathers the next ones); the chain verifies after a fold."""
    import threading
    import time

    slow = audit._insert_lookups

    def insert_slowly(session, rows):  # noqa: ANN001, ANN202
        time.sleep(0.02)  # a commit that takes a while: the other threads' lookups arrive meanwhile
        return slow(session, rows)

    monkeypatch.setattr(audit, "_insert_lookups", insert_slowly)
    log = rt.lookup_log
    commits_before, answered, errors = log.commits, [], []

    def ask(t: int) -> None:
        client = app.test_client()
        for i in range(6):
            r = client.get(f"/api/v1/verify?number=АА {t:02d}{i:04d}&surname=Нет")
            (answered if r.status_code == 404 else errors).append(r.status_code)

    threads = [threading.Thread(target=ask, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(answered) == 48
    events = _lookup_events(rt)
    assert len(events) == 48 and len({ev.id for ev in events}) == 48
    assert log.commits - commits_before < 48  # grouped
    with rt.db.session() as s:
        assert audit.fold_lookups(s) == 48
    with rt.db.session() as s:
        assert list(audit.verify_chain(s)) == []


def test_a_lookup_whose_event_cannot_be_committed_is_answered_with_an_error_and_the_next_one_is_recorded(
        rt, client, monkeypatch):  # noqa: ANN001
    from sqlalchemy.exc import OperationalError

    def fail(session, rows):  # noqa: ANN001, ANN202
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    real = audit._insert_lookups
    monkeypatch.setattr(audit, "_insert_lookups", fail)
    r = client.get("/api/v1/verify?number=АА 000001&surname=Нет")
    assert r.status_code == 500 and "found" not in r.get_json()  # never an unaudited answer
    assert _lookup_events(rt) == []
    monkeypatch.setattr(audit, "_insert_lookups", real)
    _lookups(client, 1)  # the log is not left waiting on the failed batch
    assert len(_lookup_events(rt)) == 1


def test_the_qr_token_lookup_is_read_in_one_statement_and_audited(rt, client):  # noqa: ANN001
    r = client.get("/api/v1/verify/token/" + "x" * 32)
    assert r.status_code == 404
    r = client.get("/verify/t/" + "y" * 32)
    assert r.status_code == 404
    assert [ev.details["channel"] for ev in _lookup_events(rt)] == ["api-token", "token"]


def test_on_postgresql_a_failed_fold_leaves_the_committed_lookup_events_pending_not_the_answer_an_error(
        rt, client, monkeypatch):  # noqa: ANN001
    import pytest

    if rt.db.is_sqlite:
        pytest.skip("on SQLite the events and their fold are one transaction")

    def broken(session, ids):  # noqa: ANN001, ANN202
        raise RuntimeError("fold failed")

    monkeypatch.setattr(audit, "FOLD_EVERY", 1)  # every event calls for a fold
    monkeypatch.setattr(audit, "fold_due", broken)
    _lookups(client, 2)  # answered 404, not 500
    events = _lookup_events(rt)
    assert len(events) == 2 and all(ev.prev_hash == audit.PENDING for ev in events)
