"""Issue 16, item 5: the audit chain's head time-stamped by our TSA, so that a rewritten history shows."""
from __future__ import annotations

from sqlalchemy import select

from dms.models import AuditEvent, AuditHead
from dms.audit import service as audit
from dms.audit.stamp import stamp_audit_head, verify_stamps

from .test_signing import ca_template, office, pki  # noqa: F401  (fixtures)


def _rewrite_history(rt) -> None:  # noqa: ANN001
    """What someone holding the database does: change an old event and recompute every hash after it."""
    with rt.db.session() as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        events[0].details = {**events[0].details, "roles": ["Administrator"]}
        prev = audit.GENESIS
        for ev in events:
            ev.prev_hash = prev
            ev.hash = audit.event_hash(ev)
            prev = ev.hash
        head = s.get(AuditHead, 1)
        head.last_hash = prev


def test_the_head_is_stamped_once_per_change_and_a_rewritten_history_is_detected(rt, office):  # noqa: ANN001, F811
    first = stamp_audit_head(rt)
    assert first is not None and first["head_id"] > 0
    assert stamp_audit_head(rt) is None  # nothing new since: idempotent
    office.user("latecomer", "Clerk")
    second = stamp_audit_head(rt)
    assert second is not None and second["head_id"] > first["stamp_event"]
    with rt.db.session() as s:
        assert verify_stamps(s) == []
        assert list(audit.verify_chain(s)) == []
    _rewrite_history(rt)
    with rt.db.session() as s:
        assert list(audit.verify_chain(s)) == []  # the chain alone cannot tell
        problems = verify_stamps(s)
    assert problems and problems[0].stamp_event == first["stamp_event"]
