"""`dms demo` fills an archive a person can try at once, and running it again changes nothing."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from dms.models import AuditEvent, Document, Organisation, User
from dms.operations import demo
from dms.audit.service import verify_chain
from dms.operations.check import check_objects


def test_demo_creates_every_type_and_role_and_is_idempotent(rt):  # noqa: ANN001
    first = demo.load(rt)
    assert {login for login, _, _ in first["new_users"]} == {u[0] for u in demo.DEMO_USERS}
    with rt.db.session() as s:
        types = Counter(s.scalars(select(Document.doc_type)))
        kinds = {o.kind for o in s.scalars(select(Organisation))}
        events = s.scalar(select(func.count()).select_from(AuditEvent))
        assert not list(verify_chain(s))
        assert check_objects(s, rt.store).ok
    assert set(types) == {"order", "certificate", "agreement", "report", "application", "other"}
    assert sum(types.values()) >= 40
    assert {"agency", "assessment_centre", "expert_methodical_centre", "practice_holder"} <= kinds
    second = demo.load(rt)
    assert second["new_users"] == [] and second["new_documents"] == 0
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == sum(types.values())
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == events
        assert s.scalar(select(func.count()).select_from(User)) == len(demo.DEMO_USERS)


def test_centre_clerk_sees_only_the_centre_and_what_is_shared(rt):  # noqa: ANN001
    from dms.security import P, has_permission
    demo.load(rt)
    with rt.db.session() as s:
        cok1 = s.scalars(select(User).where(User.login == "cok1")).one()
        visible = {d.folder.path.split("/")[2] for d in s.scalars(select(Document))
                   if has_permission(s, cok1, P.VIEW, d)}
        own_root = s.scalars(select(Document).where(Document.title.contains("ЦОК-77-001"))).first()
    assert len(visible) == 1  # one top-level folder: the centre's own
    assert own_root is not None


def test_demo_certificates_are_real_and_cover_every_public_status(rt):  # noqa: ANN001
    from dms.models import Certificate
    from dms.certificates import service as certs
    report = demo.load(rt)
    assert report["signatory_pin"] and report["certificates"] >= 12
    with rt.db.session() as s:
        statuses = {certs.effective_status(c) for c in s.scalars(select(Certificate))}
        one = s.scalars(select(Certificate)).first()
        assert certs.lookup_by_token(s, one.token).number == one.number
    assert {"issued", "revoked", "replaced"} <= statuses
