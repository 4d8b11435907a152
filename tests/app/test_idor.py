"""Every route of the web UI and the API, walked by a user who must not reach the object: 403 or 404 each
time, never the object (no IDOR anywhere, including version content). New routes are walked automatically."""
from __future__ import annotations

import io

import pytest

from .conftest import csrf_of
from .pdfs import make_pdf

PUBLIC_ENDPOINTS = {"static", "web.login", "web.logout", "healthz", "readyz", "api.openapi", "api.api_docs",
                    "api.create_token",
                    "web.pki_file", "web.tsa", "api.verify_pdf", "web.verify_page", "web.verify_token",
                    "web.verify_file", "api.verify_by_number", "api.verify_by_token", "api.verify_certificate_file",
                    "web.set_language",
                    # the public check of a signed document (issue 14): by its random token, and the old id links
                    "web.verify_document_token", "web.verify_document_legacy", "api.verify_document",
                    "api.verify_document_file"}
# Routes without an object in their path, and what an outsider gets there instead of the object.
NO_OBJECT_ENDPOINTS = {"web.index", "web.worklist", "web.audit_page", "web.audit_csv", "api.list_root_folder",
                       "api.create_folder", "api.document_types", "api.create_document", "api.worklist",
                       "api.audit_events", "web.search_page", "api.search",
                       "web.pki_admin", "web.pki_admin_issue", "web.pki_admin_revoke", "api.my_credentials",
                       "web.certificates_page", "web.certificates_issue", "web.blanks_page", "api.issue_batch",
                       "api.blanks",
                       "web.records_page", "web.records_place_hold", "web.records_trash_page",
                       "web.records_disposition_page", "web.records_disposition_propose", "api.records_holds",
                       "api.records_place_hold", "api.records_trash", "api.records_disposition",
                       "api.records_disposition_propose",
                       "web.reports_page", "web.report_new", "web.reports_aggregate", "api.report_forms",
                       "api.create_report", "api.reports_aggregate"}

# Durable jobs: starting a rebuild of the search index (Administrator only; the job pages are walked with a job of
# the owner's below).
NO_OBJECT_ENDPOINTS |= {"web.reindex_page", "api.reindex_job"}
# Certificates (issue 15): a clerk's prepared batches (their list and the upload) and a blank allocation by the API.
NO_OBJECT_ENDPOINTS |= {"api.prepare_batch", "api.prepared_batches", "api.allocate_blanks"}
# The register of organisations: its list and the application form (an outsider may not apply: test_register.py).
NO_OBJECT_ENDPOINTS |= {"web.register_page", "web.register_apply", "api.register_list", "api.register_apply"}
# Agreements and assessment reports: lists (filtered by the same tables), the drafting and filing forms.
NO_OBJECT_ENDPOINTS |= {"web.agreements_page", "web.agreement_new", "api.list_agreements", "api.draft_agreement",
                        "web.assessments_page", "web.assessment_create", "api.list_assessment_reports",
                        "api.create_assessment_report"}

# Administration (ManageUsers: the outsider gets 403; test_admin.py): lists, forms, the picker; and one's own
# password change (no one else's object). Users and groups by id are walked with the owner's and a group's id.
NO_OBJECT_ENDPOINTS |= {"web.admin_users", "web.admin_user_new", "web.admin_groups", "web.admin_group_create",
                        "web.admin_principals", "web.password_change"}
# Approval routes (dms.approvals): one's own tasks, notices, settings and the control report (filtered to documents
# one may view); the routes and comments of a document are walked with the secret document and a comment on it.
# One's own API tokens (issue 16): the list and revoking the current one have no object; a token by id is walked
# with the owner's token id below.
NO_OBJECT_ENDPOINTS |= {"api.list_tokens", "api.revoke_current_token"}
NO_OBJECT_ENDPOINTS |= {"web.notifications_page", "web.notifications_read", "web.control_page",
                        "web.notification_settings", "web.deputy_set", "api.tasks_list", "api.control_report",
                        "api.deputy_set", "api.notifications_list", "api.notifications_read"}


@pytest.fixture
def secret(world):  # noqa: ANN001, ANN201
    world.user("owner", "Clerk")
    world.user("outsider")
    world.folder("/Секрет")
    world.folder("/Открыто")
    world.share("/Открыто", "outsider", "Editor")
    doc = world.document("owner", "/Секрет", make_pdf("секретный приказ"), doc_type="order",
                         title="Секретный приказ")
    with world.rt.db.session() as s:
        from dms.documents import folders
        folder_id = folders.resolve(s, "/Секрет").id
        from dms.models import Organisation
        centre = Organisation(code="ЦОК-СЕКРЕТ", name="Секретный центр", kind="assessment_centre", folder_id=folder_id)
        s.add(centre)
        s.flush()
        org_id = centre.id
    from dms import jobs
    with world.rt.db.session() as s:
        from dms.people import users
        job_id = jobs.enqueue(s, "reindex", {}, users.get_user(s, "owner"))  # the owner's job: not the outsider's
    with world.rt.db.session() as s:
        from dms.people import groups
        owner_id = users.get_user(s, "owner").id
        group_id = groups.create(s, None, "secret-group").id
    with world.rt.db.session() as s:
        from dms.people import sessions
        from datetime import timedelta
        token_id = sessions.issue_token(s, users.get_user(s, "owner"), timedelta(hours=1))[2].id
    with world.rt.db.session() as s:
        from dms.approvals import comments
        from dms.models import Document
        comment_id = comments.add(s, users.get_user(s, "owner"), s.get_one(Document, doc.id), "секретное обсуждение").id
    # Certificates and issue batches have their own outsider tests (test_verification.py); here they are walked
    # with ids that do not exist, which must answer exactly like ids one may not see.
    return {"doc_id": doc.id, "folder_id": folder_id, "number": 1, "name": "register", "cert_number": "ЦОК-0-1",
            "batch_id": 1, "hold_id": 1, "disposition_id": 1, "org_id": org_id, "job_id": job_id,
            "user_id": owner_id, "group_id": group_id, "comment_id": comment_id, "token_id": token_id}


def _object_rules(app):  # noqa: ANN001, ANN202
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint in NO_OBJECT_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_is_classified(app):  # noqa: ANN001
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint in NO_OBJECT_ENDPOINTS:
            continue
        assert rule.arguments, f"{rule.endpoint} has no object argument: classify it in this test"


def _call(client, rule, method: str, values: dict, headers: dict | None = None, form: dict | None = None):  # noqa: ANN001, ANN202
    url = rule.build(values, append_unknown=False)[1]
    data = dict(form or {})
    if method == "POST":
        data["file"] = (io.BytesIO(make_pdf("чужая версия")), "x.pdf")
        data.setdefault("title", "взлом")
        data.setdefault("name", "взлом")
    if method == "PATCH":
        return client.open(url, method=method, headers=headers, json={"title": "взлом"})
    return client.open(url, method=method, headers=headers, data=data if method != "GET" else None,
                       content_type="multipart/form-data" if method == "POST" else None)


def test_outsider_gets_403_or_404_on_every_web_route(app, client, world, secret, rt):  # noqa: ANN001
    world.login(client, "outsider")
    token = csrf_of(client, "/")
    walked = 0
    for rule, method in _object_rules(app):
        if rule.endpoint.startswith("api."):
            continue
        r = _call(client, rule, method, secret, form={"csrf_token": token})
        assert r.status_code in (403, 404), (rule.rule, method, r.status_code)
        assert "Секретный приказ" not in r.get_data(as_text=True)
        walked += 1
    assert walked >= 8
    _assert_untouched(rt, secret)


def test_outsider_gets_403_or_404_on_every_api_route(app, client, world, secret, rt):  # noqa: ANN001
    h = world.token(client, "outsider")
    walked = 0
    for rule, method in _object_rules(app):
        if not rule.endpoint.startswith("api."):
            continue
        r = _call(client, rule, method, secret, headers=h)
        assert r.status_code in (403, 404), (rule.rule, method, r.status_code)
        assert "Секретный" not in r.get_data(as_text=True)
        walked += 1
    assert walked >= 10
    # Creating a document in someone else's folder, by id in the body:
    r = client.post("/api/v1/documents", headers=h, json={"folder_id": secret["folder_id"], "type": "order",
                                                           "title": "подброшенный"})
    assert r.status_code in (403, 404)
    r = client.post("/api/v1/folders", headers=h, json={"parent_id": secret["folder_id"], "name": "подброшенная"})
    assert r.status_code in (403, 404)
    _assert_untouched(rt, secret)


def test_anonymous_is_sent_to_login_or_gets_401(app, client, secret):  # noqa: ANN001
    for rule, method in _object_rules(app):
        r = _call(client, rule, method, secret)
        if rule.endpoint.startswith("api."):
            assert r.status_code == 401, (rule.rule, method)
        else:
            assert r.status_code in (302, 400), (rule.rule, method)  # login redirect, or CSRF refusal of a POST
            assert "Секретный" not in r.get_data(as_text=True)


def _assert_untouched(rt, secret: dict) -> None:  # noqa: ANN001
    from sqlalchemy import func, select

    from dms.models import Document, Version
    with rt.db.session() as s:
        doc = s.get(Document, secret["doc_id"])
        assert doc.title == "Секретный приказ" and doc.state == "draft" and doc.revision == 2
        assert s.scalar(select(func.count()).select_from(Version)) == 1
        assert s.scalar(select(func.count()).select_from(Document)) == 1
