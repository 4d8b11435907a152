"""Search wired to the archive: outbox -> one indexer -> Whoosh; the permission filter from the same rules;
reindex, drift, and a concurrent run of two web processes and the indexer."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from sqlalchemy import func, select

from dms.models import Document, OutboxEntry
from dms.fulltext import indexing
from dms.people import users
from dms.fulltext import service as search_svc
from dms.fulltext.indexing import open_index
from dms.pdfrender import render_text_pdf

from .conftest import PASSWORD


def _find(rt, login: str, q: str, **args) -> dict:  # noqa: ANN001
    with rt.db.session() as s:
        actor = users.get_user(s, login)
        return search_svc.search_documents(s, rt, actor, search_svc.parse_query({"q": q, **args})).as_dict()


@pytest.fixture
def archive(world, rt):  # noqa: ANN001, ANN201
    world.user("clerk", "Clerk")
    world.user("auditor", "Auditor")
    world.user("outsider")
    world.folder("/Соглашения")
    world.folder("/ЦОК/Свидетельства")
    a = world.document("clerk", "/Соглашения", render_text_pdf(
        "Соглашение", "Соглашение с держателем практики оценки квалификаций сварщиков."),
        doc_type="agreement", title="Соглашение о признании практики", meta={"counterparty": "ООО «Сварка»"})
    b = world.document("clerk", "/ЦОК/Свидетельства", render_text_pdf(
        "Свидетельство", "Свидетельство о квалификации выдано Иванову Ивану Ивановичу."),
        doc_type="other", title="Копия свидетельства")
    indexing.drain(rt)
    return {"agreement": a.id, "certificate": b.id}


def test_russian_word_forms_find_the_document(rt, archive):  # noqa: ANN001
    hits = _find(rt, "auditor", "держатель практики")
    assert [int(i["id"]) for i in hits["items"]] == [archive["agreement"]]
    assert "<mark" in hits["items"][0]["highlight"]
    assert [int(i["id"]) for i in _find(rt, "auditor", "свидетельства")["items"]] == [archive["certificate"]]


def test_outsider_sees_nothing_and_a_grant_takes_effect_without_reindexing(rt, world, archive):  # noqa: ANN001
    assert _find(rt, "outsider", "свидетельство")["total"] == 0
    assert _find(rt, "outsider", "")["facets"] in ({}, {"doc_type": {}, "state": {}, "org": {}, "year": {}})
    generation = open_index(rt).current_generation()
    versions = open_index(rt).doc_versions()
    world.share("/ЦОК", "outsider", "Reader")
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxEntry)) == 0  # nothing queued for the index
    found = _find(rt, "outsider", "свидетельство")
    assert [int(i["id"]) for i in found["items"]] == [archive["certificate"]]
    assert open_index(rt).current_generation() == generation and open_index(rt).doc_versions() == versions


def test_changes_reach_the_index_only_through_the_outbox(rt, world, archive):  # noqa: ANN001
    from dms.documents import service as documents
    with rt.db.session() as s:
        clerk = users.get_user(s, "clerk")
        documents.update_metadata(s, clerk, documents.get(s, clerk, archive["agreement"]), title="Соглашение сварщиков")
    assert _find(rt, "auditor", "title:сварщиков")["total"] == 0  # not indexed yet: only queued
    indexing.drain(rt)
    assert _find(rt, "auditor", "title:сварщиков")["total"] == 1


def test_interrupted_batch_is_redone(rt, world, archive, monkeypatch):  # noqa: ANN001
    world.document("clerk", "/Соглашения", render_text_pdf("x", "Дополнительное соглашение о сроках"),
                   doc_type="agreement", title="Дополнительное соглашение", meta={"counterparty": "ООО «Сварка»"})
    real_session = rt.db.session
    calls = {"n": 0}

    def crash_on_outbox_delete():  # noqa: ANN202
        calls["n"] += 1
        if calls["n"] == 2:  # the second session of drain_once deletes the outbox rows
            raise RuntimeError("power cut")
        return real_session()

    monkeypatch.setattr(rt.db, "session", crash_on_outbox_delete)
    with pytest.raises(RuntimeError):
        indexing.drain_once(rt, open_index(rt))
    monkeypatch.setattr(rt.db, "session", real_session)
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxEntry)) >= 1  # still queued
    indexing.drain(rt)
    assert _find(rt, "auditor", "сроках")["total"] == 1
    assert not indexing.drift(rt)["drift"]


def test_check_reports_drift_and_reindex_repairs_it(rt, archive):  # noqa: ANN001
    from search.index import Delete
    open_index(rt).apply([Delete(str(archive["certificate"]))])
    report = indexing.drift(rt)
    assert report["drift"] and report["missing"] == [str(archive["certificate"])]
    assert indexing.reindex(rt) == 2
    assert not indexing.drift(rt)["drift"]


def test_api_and_cli_search_answer_the_documented_shape(rt, world, client, settings, archive):  # noqa: ANN001
    h = world.token(client, "auditor")
    r = client.get("/api/v1/search?q=держателем&type=agreement", headers=h)
    assert r.status_code == 200
    body = r.get_json()
    assert body["total"] == 1 and {"id", "title", "reg_number"} <= set(body["items"][0])
    assert body["items"][0]["id"] == archive["agreement"]  # an integer (strings until 2026-12), as in the CLI
    assert client.get("/api/v1/search?q=AND", headers=h).status_code == 200  # a bare operator is a word, not an error
    assert client.get("/api/v1/search?q=x&sort=sideways", headers=h).status_code == 400
    env = {**os.environ, "DMS_DATA_DIR": str(settings.data_dir), "DMS_DATABASE_URL": settings.database_url,
           "DMS_STORAGE_URL": settings.storage_url, "DMS_INDEX_DIR": str(settings.index_dir), "DMS_SECRET_KEY": "x"}
    out = subprocess.run([sys.executable, "-m", "dms", "search", "свидетельство", "--as", "auditor", "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["total"] == 1 and data["items"][0]["title"] == "Копия свидетельства"


def test_proximity_phrase_answers_through_the_api_and_the_page(world, client, archive):  # noqa: ANN001
    h = world.token(client, "auditor")
    exact = client.get("/api/v1/search", query_string={"q": '"соглашение практики"'}, headers=h)
    near = client.get("/api/v1/search", query_string={"q": '"соглашение практики"~4'}, headers=h)
    assert exact.status_code == 200 and exact.get_json()["total"] == 0
    assert near.status_code == 200 and [int(i["id"]) for i in near.get_json()["items"]] == [archive["agreement"]]
    world.login(client, "auditor")
    page = client.get("/search", query_string={"q": '"центр оценка"~3'})
    assert page.status_code == 200


def test_natural_queries_with_stop_words_find_their_documents(rt, archive):  # noqa: ANN001
    agreement = [archive["agreement"]]
    for q in ("соглашение с держателем", '"соглашение о признании"', "держатель практики",
              "свидетельство о квалификации", "оценка квалификаций", "оценок квалификации"):
        found = [int(i["id"]) for i in _find(rt, "auditor", q)["items"]]
        assert found == ([archive["certificate"]] if "свидетельство" in q else agreement), q
    assert _find(rt, "auditor", '"соглашение признании"')["total"] == 0  # the gap of «о» is kept


def test_a_query_of_stop_words_only_says_so(world, client, archive):  # noqa: ANN001
    h = world.token(client, "auditor")
    r = client.get("/api/v1/search", query_string={"q": "и в на"}, headers=h)
    assert r.status_code == 200 and r.get_json()["total"] == 0 and r.get_json()["notice"] == "stop_words_only"
    world.login(client, "auditor")
    page = client.get("/search", query_string={"q": "о"}).get_data(as_text=True)
    assert "только из служебных слов" in page
    page = client.get("/search", query_string={"q": "о", "lang": "en"}, headers={"Accept-Language": "en"})
    assert page.status_code == 200


def test_a_blank_number_finds_its_certificate_in_any_case_and_with_spaces(rt, world, archive):  # noqa: ANN001
    doc = world.document("clerk", "/ЦОК/Свидетельства", None, doc_type="certificate", title="Свидетельство",
                         meta={"holder": "Петров П. П.", "qualification": "Сварщик", "blank_number": "АА-000123"})
    indexing.drain(rt)
    for q in ("аа 000123", "АА-000123", "бланк:аа-000123"):
        assert [int(i["id"]) for i in _find(rt, "auditor", q)["items"]] == [doc.id], q


def test_an_index_of_an_older_format_is_reported_and_rebuilt_by_reindex(rt, world, client, archive):  # noqa: ANN001
    index = open_index(rt)
    (index.root / index.current_generation() / "index-format").unlink()  # as written by the Snowball version
    rt.__dict__.pop("_search_index", None)  # a process started after the upgrade
    h = world.token(client, "auditor")
    r = client.get("/api/v1/search", query_string={"q": "соглашение"}, headers=h)
    assert r.status_code == 503 and "dms reindex" in json.dumps(r.get_json(), ensure_ascii=False)
    world.login(client, "auditor")
    page = client.get("/search", query_string={"q": "соглашение"}).get_data(as_text=True)
    assert "dms reindex" in page
    assert indexing.reindex(rt) == 2
    assert client.get("/api/v1/search", query_string={"q": "соглашение"}, headers=h).get_json()["total"] == 1


def test_search_page_renders_results_and_facets(world, client, archive):  # noqa: ANN001
    world.login(client, "auditor")
    page = client.get("/search?q=практики").get_data(as_text=True)
    assert "Соглашение о признании практики" in page and "<mark" in page and "Тип" in page


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_web_processes_and_the_indexer_under_concurrent_uploads(rt, world, settings):  # noqa: ANN001
    """SOAK_SECONDS (default 8; 60 for the issue's minute) of uploads through two web processes while the
    indexer process drains; no index error, and the index ends equal to the database."""
    seconds = float(os.environ.get("SOAK_SECONDS", "8"))
    world.user("clerk", "Clerk")
    world.folder("/Входящие")
    env = {**os.environ, "DMS_DATA_DIR": str(settings.data_dir), "DMS_DATABASE_URL": settings.database_url,
           "DMS_STORAGE_URL": settings.storage_url, "DMS_INDEX_DIR": str(settings.index_dir),
           "DMS_SECRET_KEY": "soak-secret"}
    ports = [_free_port(), _free_port()]
    procs = [subprocess.Popen([sys.executable, "-m", "dms", "serve", "--port", str(p), "--no-indexer"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for p in ports]
    indexer = subprocess.Popen([sys.executable, "-m", "dms", "indexer"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    errors: list[str] = []
    uploaded: list[int] = []
    try:
        for p in ports:
            _wait_http(p)
        with rt.db.session() as s:
            folder_id = s.execute(select(Document.folder_id)).first() or None
        from dms.documents import folders
        with rt.db.session() as s:
            folder_id = folders.resolve(s, "/Входящие").id

        def uploader(port: int, worker: int) -> None:
            token = _post_json(port, "/api/v1/tokens", {"login": "clerk", "password": PASSWORD})["token"]
            deadline = time.monotonic() + seconds
            hard_deadline = deadline + 4 * seconds  # a loaded machine: go on until 8 uploads are in, within bounds
            n = 0
            while time.monotonic() < deadline or (len(uploaded) < 8 and not errors
                                                  and time.monotonic() < hard_deadline):
                n += 1
                pdf = render_text_pdf(f"Входящее {worker}-{n}", f"Письмо номер {worker}-{n} о проведении экзамена")
                try:
                    doc = _upload(port, token, folder_id, pdf, f"Письмо {worker}-{n}")
                    uploaded.append(doc["id"])
                except Exception as exc:  # noqa: BLE001
                    errors.append(repr(exc))

        threads = [threading.Thread(target=uploader, args=(p, i)) for i, p in enumerate(ports * 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with rt.db.session() as s:
                if not s.scalar(select(func.count()).select_from(OutboxEntry)):
                    break
            time.sleep(0.5)
    finally:
        for p in [*procs, indexer]:
            p.terminate()
        logs = [p.communicate(timeout=30)[1].decode(errors="replace") for p in [*procs, indexer]]
    assert not errors, errors[:3]
    assert len(uploaded) >= 8
    assert not any("Traceback" in log for log in logs), [log[-2000:] for log in logs if "Traceback" in log]
    report = indexing.drift(rt)
    assert not report["drift"] and report["pending"] == 0, report
    with rt.db.session() as s:
        db_versions = {str(i): str(r) for i, r in s.execute(select(Document.id, Document.revision))}
    assert open_index(rt).doc_versions() == db_versions


def _wait_http(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not start")


def _post_json(port: int, path: str, body: dict) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())


def _upload(port: int, token: str, folder_id: int, pdf: bytes, title: str) -> dict:
    boundary = "----pechat-soak"
    parts = []
    for name, value in (("folder_id", str(folder_id)), ("type", "other"), ("title", title)):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
                 f"Content-Type: application/pdf\r\n\r\n".encode() + pdf + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/documents", data=b"".join(parts), headers={
        "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    return json.loads(urllib.request.urlopen(req, timeout=60).read())


def test_searching_a_new_empty_archive_finds_nothing_without_error(world, client):  # noqa: ANN001
    world.user("auditor", "Auditor")
    h = world.token(client, "auditor")
    r = client.get("/api/v1/search?q=приказ", headers=h)
    assert r.status_code == 200 and r.get_json()["total"] == 0


def test_a_search_holds_no_write_lock_while_it_runs(rt, world, client, archive, monkeypatch):  # noqa: ANN001
    """Two web workers search at once and a clerk's filing never waits behind a search: while the index is read,
    the request has committed what it wrote and reads in a read-only transaction (SQLite: another connection can
    take the write lock at that moment; PostgreSQL: the transaction is READ ONLY)."""
    from sqlalchemy import text

    seen: list[object] = []
    real = search_svc.run_search

    def probing(index, request, **kwargs):  # noqa: ANN001, ANN202
        if rt.db.is_sqlite:
            other = rt.db.engine.raw_connection()  # a second connection, as another worker's
            try:
                other.execute("PRAGMA busy_timeout=0")
                other.execute("BEGIN IMMEDIATE")  # the write lock, at once or "database is locked"
                other.execute("ROLLBACK")
                seen.append("write lock free")
            except Exception as exc:  # noqa: BLE001
                seen.append(f"write lock held: {exc}")
            finally:
                other.close()
        return real(index, request, **kwargs)

    def probing_session(session, *args, **kwargs):  # noqa: ANN001, ANN202
        if not rt.db.is_sqlite:
            seen.append(session.execute(text("SHOW transaction_read_only")).scalar())
        return search_documents(session, *args, **kwargs)

    search_documents = search_svc.search_documents
    monkeypatch.setattr(search_svc, "run_search", probing)
    monkeypatch.setattr(search_svc, "search_documents", probing_session)
    expected = "write lock free" if rt.db.is_sqlite else "on"
    assert client.get("/api/v1/search", query_string={"q": "соглашение"},
                      headers=world.token(client, "auditor")).get_json()["total"] == 1
    world.login(client, "auditor")
    assert "Соглашение" in client.get("/search", query_string={"q": "соглашение"}).get_data(as_text=True)
    assert seen == [expected, expected]


def test_a_gunicorn_worker_warms_the_search_before_its_first_request(rt, app, archive, caplog, monkeypatch):  # noqa: ANN001
    """post_worker_init (dms.wsgi_server.warm_worker): the index opened and a phrase of its most frequent words
    searched, so a user's first search finds everything loaded; a failing warm-up only logs (the worker serves)."""
    import logging
    from types import SimpleNamespace

    from dms import wsgi_server

    worker = SimpleNamespace(wsgi=app)
    rt.__dict__.pop("_search_index", None)
    with caplog.at_level(logging.INFO, logger="dms.wsgi_server"):
        wsgi_server.warm_worker(worker)
    assert "_search_index" in rt.__dict__  # opened (and the dictionary loaded) by the warm-up
    assert any("search warmed" in r.getMessage() and '"' in r.getMessage() for r in caplog.records)

    def broken(_rt):  # noqa: ANN001, ANN202
        raise OSError("index unreadable")

    monkeypatch.setattr(search_svc, "warm", broken)
    with caplog.at_level(logging.ERROR, logger="dms.wsgi_server"):
        wsgi_server.warm_worker(worker)  # does not raise
    assert any("warm-up failed" in r.getMessage() for r in caplog.records)
