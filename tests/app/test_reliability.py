"""Issue 17.2: a store that is down, frozen or full never takes the site; /healthz and /readyz.

The store is replaced by wrappers around the test's real store: one that refuses (raises StoreUnavailable, as the S3
store does for a refused connection or a timeout), one that freezes (blocks until released, as a hung server), and a
filesystem whose disk is full (ENOSPC from the OS)."""
from __future__ import annotations

import errno
import io
import os
import threading
import time
from typing import BinaryIO

import pytest

from dms.certificates import service as certs
from storage import ObjectStore, StoreUnavailable

from .test_certificates import centre, rows  # noqa: F401  (fixtures)
from .test_signing import PIN, ca_template, pki  # noqa: F401


class DownStore(ObjectStore):
    """Every call fails the way a refusing or timed-out store fails. `frozen`: every call first blocks until
    `release` is set (a hung server), then fails."""

    def __init__(self, inner: ObjectStore, frozen: bool = False):
        self.inner = inner
        self.frozen = frozen
        self.release = threading.Event()
        self.calls = 0

    def _fail(self):  # noqa: ANN202
        self.calls += 1
        if self.frozen:
            self.release.wait(30)
        raise StoreUnavailable(f"{self.inner.describe()}: connection refused", retry_after=7)

    def put(self, stream: BinaryIO, expected_sha256: str | None = None, expected_size: int | None = None):  # noqa: ANN201
        self._fail()

    def open(self, key: str) -> BinaryIO:
        self._fail()
        raise AssertionError

    def stat(self, key: str):  # noqa: ANN201
        self._fail()

    def exists(self, key: str) -> bool:
        self._fail()
        return False

    def delete(self, key: str) -> None:
        self._fail()

    def list(self):  # noqa: ANN201
        self._fail()

    def protect(self, key, retain_until) -> bool:  # noqa: ANN001
        self._fail()
        return False

    def describe(self) -> str:
        return "down " + self.inner.describe()


def _pdf() -> bytes:
    from .pdfs import make_pdf
    return make_pdf("Приказ о допуске к экзамену")


@pytest.fixture
def archive(world):  # noqa: ANN001, ANN201
    world.user("archivist", "Clerk")
    world.folder("/Приказы")
    doc = world.document("archivist", "/Приказы", _pdf(), doc_type="order", title="Приказ о допуске к экзамену")
    return doc


def test_download_answers_503_with_retry_after_in_the_api_and_the_web_when_the_store_is_down(
        rt, client, world, archive):  # noqa: ANN001
    headers = world.token(client, "archivist")
    world.login(client, "archivist")
    rt.__dict__["store"] = DownStore(rt.store)
    api = client.get(f"/api/v1/documents/{archive.id}/versions/1/content", headers=headers)
    assert api.status_code == 503
    assert api.headers["Retry-After"] == "7"
    error = api.get_json()["error"]
    assert error["status"] == 503 and "Хранилище файлов временно недоступно" in error["message"]
    page = client.get(f"/documents/{archive.id}/versions/1/download")
    assert page.status_code == 503 and page.headers["Retry-After"] == "7"
    assert "Хранилище файлов временно недоступно" in page.get_data(as_text=True)


def test_the_store_error_is_in_english_in_the_english_ui(rt, client, world, archive):  # noqa: ANN001
    world.login(client, "archivist")
    rt.__dict__["store"] = DownStore(rt.store)
    from dms.i18n import COOKIE
    client.set_cookie(COOKIE, "en")
    page = client.get(f"/documents/{archive.id}/versions/1/download")
    assert page.status_code == 503
    assert "The file store is temporarily unavailable" in page.get_data(as_text=True)


def test_upload_to_a_full_disk_answers_507_and_creates_nothing(rt, client, world, archive, monkeypatch):  # noqa: ANN001
    from dms.models import Document
    headers = world.token(client, "archivist")
    with rt.db.session() as s:
        before = s.query(Document).count()
        folder_id = archive.folder_id

    def full(*_args):  # noqa: ANN002, ANN202
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)  # the store's spool file cannot be made durable: the disk is full
    r = client.post("/api/v1/documents", headers=headers, data={
        "folder_id": str(folder_id), "type": "order", "title": "Ещё приказ",
        "file": (io.BytesIO(_pdf() + b"%% another"), "prikaz.pdf")}, content_type="multipart/form-data")
    monkeypatch.undo()
    if rt.store.describe().startswith("s3"):
        pytest.skip("the S3 store spools without fsync; its full answer is XMinioStorageFull (tests/storage)")
    assert r.status_code == 507, r.get_json()
    assert "заполнено" in r.get_json()["error"]["message"] and r.headers["Retry-After"] == "60"
    with rt.db.session() as s:
        assert s.query(Document).count() == before


@pytest.fixture
def certificate(rt, centre):  # noqa: ANN001, ANN201, F811
    return certs.issue(rt, "head", centre, rows(1), PIN).issued[0]


def test_search_lists_and_the_public_check_answer_while_the_store_is_frozen(
        rt, client, world, archive, certificate):  # noqa: ANN001
    from dms.fulltext import indexing
    indexing.drain(rt)
    headers = world.token(client, "archivist")
    frozen = DownStore(rt.store, frozen=True)
    rt.__dict__["store"] = frozen
    answers: dict = {}

    def download() -> None:  # a request stuck in the hung store, as a gunicorn thread would be
        answers["download"] = client.get(f"/api/v1/documents/{archive.id}/versions/1/content", headers=headers)

    stuck = threading.Thread(target=download)
    stuck.start()
    try:
        deadline = time.monotonic() + 5
        while frozen.calls == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert frozen.calls == 1, "the download should be waiting in the store"
        started = time.perf_counter()
        search = client.get("/api/v1/search", query_string={"q": "допуске"}, headers=headers)
        assert search.status_code == 200 and search.get_json()["total"] >= 1
        check = client.get("/api/v1/verify", query_string={"number": certificate["number"], "surname": "Иванов"})
        assert check.status_code == 200 and check.get_json()["certificate"]["status"] == "issued"
        listing = client.get(f"/api/v1/folders/{archive.folder_id}", headers=headers)
        assert listing.status_code == 200
        assert time.perf_counter() - started < 5
        assert client.get("/healthz").status_code == 200
        assert frozen.calls == 1, "pages without files must not touch the store"
    finally:
        frozen.release.set()
        stuck.join(30)
    assert answers["download"].status_code == 503


def test_healthz_answers_and_readyz_names_the_dependency_that_is_down(rt, client):  # noqa: ANN001
    live = client.get("/healthz")
    assert live.status_code == 200 and live.get_json()["ok"] is True
    ready = client.get("/readyz")
    body = ready.get_json()
    assert ready.status_code == 200, body
    assert set(body["checks"]) == {"database", "store", "index", "jobs"} and body["down"] == []
    rt.__dict__["store"] = DownStore(rt.store)
    down = client.get("/readyz")
    assert down.status_code == 503 and down.get_json()["down"] == ["store"]
    assert "connection refused" in down.get_json()["checks"]["store"]["error"]


def test_readyz_reports_a_frozen_dependency_within_its_bound(rt, client):  # noqa: ANN001
    frozen = DownStore(rt.store, frozen=True)
    rt.__dict__["store"] = frozen
    started = time.perf_counter()
    try:
        r = client.get("/readyz")
    finally:
        frozen.release.set()
    assert time.perf_counter() - started < 5
    assert r.status_code == 503 and r.get_json()["down"] == ["store"]
    assert "no answer" in r.get_json()["checks"]["store"]["error"]


def test_postgresql_sessions_have_statement_and_idle_in_transaction_timeouts(rt):  # noqa: ANN001
    if rt.db.is_sqlite:
        from sqlalchemy import text
        with rt.db.engine.connect() as c:
            assert c.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        return
    from sqlalchemy import text
    with rt.db.engine.connect() as c:
        assert c.execute(text("SHOW statement_timeout")).scalar() == "1min"
        assert c.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "1min"


def test_a_pooled_postgresql_connection_cut_while_idle_is_replaced_before_use_and_one_in_use_fails_once(
        rt, monkeypatch):  # noqa: ANN001
    """Pooled connections idle longer than PING_AFTER_IDLE_S are pinged before use (a database restart or a cut
    connection costs nothing); one checked in moments ago is not (the ping was a round trip of every lookup): cut,
    it fails its statement once and the pool connects afresh for the next one."""
    if rt.db.is_sqlite:
        pytest.skip("SQLite has no server connection to lose")
    import psycopg
    from sqlalchemy import exc, text

    from dms import db as dbmod

    def backend_pid() -> int:
        with rt.db.session() as s:
            return int(s.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def cut(pid: int) -> None:
        with psycopg.connect(rt.db.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
            c.execute("SELECT pg_terminate_backend(%s)", (pid,))

    rt.db.engine.dispose()
    monkeypatch.setattr(dbmod, "PING_AFTER_IDLE_S", 0.0)  # every checkout counts as idle
    first = backend_pid()
    cut(first)
    assert backend_pid() != first  # the ping found it dead; a new connection answered
    monkeypatch.setattr(dbmod, "PING_AFTER_IDLE_S", 3600.0)  # nothing counts as idle
    second = backend_pid()
    cut(second)
    with pytest.raises(exc.OperationalError):
        backend_pid()
    assert backend_pid() not in (first, second)


# --- idempotent writes (17.5) ---------------------------------------------------------------------------------


def _count(rt, model) -> int:  # noqa: ANN001
    with rt.db.session() as s:
        return s.query(model).count()


def _upload(folder_id: int, title: str = "Приказ по ключу", data: bytes | None = None) -> dict:
    return {"folder_id": str(folder_id), "type": "order", "title": title,
            "file": (io.BytesIO(data or _pdf()), "prikaz.pdf")}


def test_a_retried_upload_with_the_same_idempotency_key_returns_the_first_answer_and_creates_nothing(
        rt, client, world, archive):  # noqa: ANN001
    from dms.models import Document, Version
    headers = {**world.token(client, "archivist"), "Idempotency-Key": "upload-1"}
    before = _count(rt, Document), _count(rt, Version)
    first = client.post("/api/v1/documents", headers=headers, data=_upload(archive.folder_id),
                        content_type="multipart/form-data")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = client.post("/api/v1/documents", headers=headers, data=_upload(archive.folder_id),
                        content_type="multipart/form-data")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json() and again.headers["Location"] == first.headers["Location"]
    assert (_count(rt, Document), _count(rt, Version)) == (before[0] + 1, before[1] + 1)
    other = client.post("/api/v1/documents", headers=headers, data=_upload(archive.folder_id, "Другой приказ"),
                        content_type="multipart/form-data")
    assert other.status_code == 422 and "Idempotency-Key" in other.get_json()["error"]["message"]
    plain = {k: v for k, v in headers.items() if k != "Idempotency-Key"}
    for _ in range(2):  # without a key every POST creates
        assert client.post("/api/v1/documents", headers=plain, data=_upload(archive.folder_id),
                           content_type="multipart/form-data").status_code == 201
    assert _count(rt, Document) == before[0] + 3


def test_the_key_belongs_to_its_user_and_endpoint_and_an_error_answer_is_not_remembered(
        rt, client, world, archive):  # noqa: ANN001
    from dms.models import Folder
    world.user("second", "Clerk")
    world.share("/Приказы", "second", "Editor")
    parent = archive.folder_id
    mine = {**world.token(client, "archivist"), "Idempotency-Key": "k-42"}
    theirs = {**world.token(client, "second"), "Idempotency-Key": "k-42"}
    before = _count(rt, Folder)
    bad = client.post("/api/v1/folders", headers=mine, json={"parent_id": parent})
    assert bad.status_code == 400  # no name: refused, nothing to remember
    ok = client.post("/api/v1/folders", headers=mine, json={"parent_id": parent, "name": "Входящие"})
    assert ok.status_code == 201, ok.get_json()
    assert client.post("/api/v1/folders", headers=mine, json={"parent_id": parent, "name": "Входящие"}).get_json() \
        == ok.get_json()
    same_key_other_user = client.post("/api/v1/folders", headers=theirs, json={"parent_id": parent, "name": "Исх"})
    assert same_key_other_user.status_code == 201 and "Idempotent-Replayed" not in same_key_other_user.headers
    assert _count(rt, Folder) == before + 2


def test_concurrent_retries_with_one_key_create_one_document(rt, app, world, archive):  # noqa: ANN001
    from dms.models import Document
    headers = {**world.token(app.test_client(), "archivist"), "Idempotency-Key": "burst"}
    before = _count(rt, Document)
    answers: list = []

    def post() -> None:
        c = app.test_client()
        r = c.post("/api/v1/documents", headers=headers, data=_upload(archive.folder_id, data=_pdf() + b"%burst"),
                   content_type="multipart/form-data")
        answers.append((r.status_code, r.get_json()))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert _count(rt, Document) == before + 1
    created = [body for status, body in answers if status == 201]
    assert created and all(body == created[0] for body in created)
    assert all(status in (201, 409) for status, _ in answers), answers
