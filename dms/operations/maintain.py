"""`dms maintain`: what a daily (or, at the least, yearly) run does for every capability — key rollover and CRLs
(dms.signatures.pki), certificates of qualification past their date (dms.certificates), B-LTA protection and its
renewal (dms.signatures.evidence), the audit chain's time-stamp (dms.audit.stamp), approval reminders
(dms.approvals). Operations orchestrate; none of those capabilities imports this module."""
from __future__ import annotations

from datetime import datetime

from signing import clock

from dms.approvals import notify
from dms.approvals import service as approval_routes
from dms.audit import service as audit
from dms.audit.stamp import stamp_audit_head
from dms.certificates import service as certificates
from dms.runtime import Runtime
from dms.signatures import pki
from dms.signatures.evidence import report as evidence_report, run as evidence_run


def maintain(rt: Runtime, now: datetime | None = None) -> dict:
    """What a daily (or, at the least, yearly) run does, each step on its own so that one failure does not stop the
    others: roll the TSA and CAs over, publish CRLs, expire certificates of qualification past their date (through
    the workflow), protect signed documents and renew their protection. Idempotent: a second run finds nothing
    due; a run after missed ones catches up."""
    now = now or clock.now()
    summary: dict = {"at": now.isoformat(), "errors": []}

    def step(name: str, action) -> None:  # noqa: ANN001
        try:
            summary[name] = action()
        except Exception as exc:  # noqa: BLE001 - reported, the next step still runs
            summary["errors"].append({"step": name, "error": getattr(exc, "message", None) or str(exc)})

    if not pki.is_initialised(rt.settings):
        summary["errors"].append({"step": "pki", "error": "удостоверяющий центр не создан: выполните dms pki init"})
    else:
        step("rollover", lambda: pki.roll_over(rt, now)["renewed"])

        def crls() -> list[dict]:
            with rt.db.session() as s:
                return pki.publish_due_crls(rt, s)
        step("crls", crls)

    def expire() -> list[str]:
        with rt.db.session() as s:
            return certificates.expire_due(s, None, today=now.date())
    step("certificates_expired", expire)
    if pki.is_initialised(rt.settings):
        def evidence() -> dict:
            result = evidence_run(rt, now)
            for failure in result.failed:
                summary["errors"].append({"step": "evidence", **failure})
            return result.to_dict()
        step("evidence", evidence)

        def due() -> dict:
            with rt.db.session() as s:
                return evidence_report(s, now)
        step("report", due)

        def stamp_audit() -> dict | None:  # the chain's head under our TSA (issue 16): a rewritten history shows
            return stamp_audit_head(rt)
        step("audit_stamp", stamp_audit)

    def approvals() -> dict:  # «срок завтра» / «просрочено» once each, then the e-mails still pending
        with rt.db.session() as s:
            counts: dict = approval_routes.remind(s, now)
        counts["email"] = notify.send_pending(rt.db, notify.config_from_env(), rt.settings.base_url)
        return counts
    step("approvals", approvals)
    summary["ok"] = not summary["errors"]
    with rt.db.session() as s:
        audit.record(s, None, "maintain", "system", None, ok=summary["ok"],
                     renewed_keys=summary.get("rollover", []), expired=len(summary.get("certificates_expired", [])),
                     protected=len((summary.get("evidence") or {}).get("protected", [])),
                     renewed=len((summary.get("evidence") or {}).get("renewed", [])), errors=summary["errors"][:20])
    return summary
