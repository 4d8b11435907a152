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
