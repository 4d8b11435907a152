"""Certificates of qualification: batch issue all-or-nothing, blanks, lifecycle, public lookups."""
from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from dms.errors import Conflict, Invalid
from dms.models import Blank, Certificate, Document, Organisation, Signature, Version
from dms.certificates import service as certs
from dms.fulltext import indexing
from dms.people import users
from dms.certificates.rows import ExamResult, read_results
from signing.validate import validate_pdf

from .test_signing import PIN, ca_template, pki  # noqa: F401  (fixtures)


# One SNILS per person (valid check digits): a SNILS is one person across the archive.
SNILS = ["11223344595", "11223344696", "11223344797", "11223344898"]


def rows(n: int, start: int = 0) -> list[ExamResult]:
    names = ["Иванов Иван Иванович", "Петрова Анна Сергеевна", "Сидоров Пётр Ильич", "Ёлкина Мария Олеговна"]
    return [ExamResult(row=i + 2, full_name=names[i % len(names)],
                       qualification=f"Сварщик ручной дуговой сварки {i + start}", level=4,
                       exam_date=date.today() - timedelta(days=3), protocol="П-15", snils=SNILS[i % len(names)],
                       birth_date=date(1985, 2, 1)) for i in range(n)]


@pytest.fixture
def centre(world, rt, pki):  # noqa: ANN001, ANN201, F811
    world.user("clerk", "Clerk")
    world.user("head", "Signatory")
    with rt.db.session() as s:
        org = Organisation(code="ЦОК-77-001", name="ООО «Центр оценки квалификаций „Меридиан“»", short_name="Меридиан",
                           kind="assessment_centre", city="Москва")
        s.add(org)
        s.flush()
        certs.allocate_blanks(s, None, org, "АА", 1, 50)
        from dms.signatures import pki as pki_svc
        pki_svc.issue(rt, s, None, users.get_user(s, "head"), PIN)
    return "ЦОК-77-001"


def test_batch_issue_creates_signed_indexed_certificates_with_blanks_and_numbers(rt, centre):  # noqa: ANN001
    stages = []
    result = certs.issue(rt, "head", centre, rows(5), PIN, progress=lambda st, d, t: stages.append(st))
    year = date.today().year
    assert [c["number"] for c in result.issued] == [f"ЦОК-77-001-{year}-{n:05d}" for n in range(1, 6)]
    assert [c["blank"] for c in result.issued] == [f"АА{n:07d}" for n in range(1, 6)]
    assert {"signing", "storing"} <= set(stages)
    with rt.db.session() as s:
        docs = s.scalars(select(Document).where(Document.doc_type == "certificate")).all()
        assert {d.state for d in docs} == {"issued"} and len(docs) == 5
        assert s.scalar(select(func.count()).select_from(Signature)) == 5
        used = s.scalars(select(Blank.status).where(Blank.number.in_([c["blank"] for c in result.issued]))).all()
        assert set(used) == {"used"}
        pdf = rt.store.get_bytes(s.get(Version, docs[0].current_version_id).object_key)
    from dms.signatures import pki as pki_svc
    with rt.db.session() as s:
        report = validate_pdf(pdf, pki_svc.trust_store(rt, s))
    assert report.authentic, report.summary_ru()
    indexing.drain(rt)
    from dms.fulltext import service as search_svc
    with rt.db.session() as s:
        head = users.get_user(s, "head")
        found = search_svc.search_documents(s, rt, head, search_svc.parse_query({"q": result.issued[2]["number"]}))
    assert [int(i["id"]) for i in found.as_dict()["items"]] == [result.issued[2]["id"]]


def test_a_file_with_one_bad_row_issues_nothing(rt, centre):  # noqa: ANN001
    data = ("ФИО;Квалификация;Уровень;Дата экзамена;Номер протокола\n"
            "Иванов Иван Иванович;Сварщик;4;10.03.2026;П-1\n"
            "Петров;Сварщик;11;10.03.2026;П-1\n")
    with pytest.raises(Invalid) as info:
        read_results(io.BytesIO(data.encode()), "r.csv")
    assert any(r.startswith("строка 3:") for r in info.value.details["rows"])
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Certificate)) == 0


def test_refusals_before_anything_is_consumed(rt, centre):  # noqa: ANN001
    from dms.signatures.pki import SigningRefused
    with pytest.raises(SigningRefused):
        certs.issue(rt, "head", centre, rows(2), "000000")
    from dms.security import Forbidden
    with pytest.raises(Forbidden):
        certs.issue(rt, "clerk", centre, rows(2), PIN)
    with pytest.raises(Conflict, match="не хватает бланков"):
        certs.issue(rt, "head", centre, rows(51), PIN)
    result = certs.issue(rt, "head", centre, rows(1), PIN)
    assert result.issued[0]["number"].endswith("-00001") and result.issued[0]["blank"] == "АА0000001"


def test_failure_after_reservation_gives_numbers_and_blanks_back(rt, centre, monkeypatch):  # noqa: ANN001
    def broken_store(_data):  # noqa: ANN001, ANN202
        raise OSError("disk full")
    monkeypatch.setattr(rt.store, "put_bytes", broken_store)
    with pytest.raises(OSError):
        certs.issue(rt, "head", centre, rows(3), PIN)
    monkeypatch.undo()
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Blank).where(Blank.status != "free")) == 0
        assert s.scalar(select(func.count()).select_from(Certificate)) == 0
    again = certs.issue(rt, "head", centre, rows(1), PIN)
    assert again.issued[0]["number"].endswith("-00001")


def test_blanks_are_spoiled_with_a_reason_and_reported(rt, centre):  # noqa: ANN001
    certs.issue(rt, "head", centre, rows(2), PIN)
    with rt.db.session() as s:
        with pytest.raises(Invalid):
            certs.spoil_blank(s, None, "АА0000010", " ")
        certs.spoil_blank(s, None, "АА0000010", "испорчен при печати")
        with pytest.raises(Conflict):
            certs.spoil_blank(s, None, "АА0000001", "уже использован")
    with rt.db.session() as s:
        report = certs.blanks_report(s)
    assert report == [{"centre": "ЦОК-77-001", "name": "Меридиан", "allocated": 50, "used": 2, "spoiled": 1,
                       "remaining": 47}]
    with rt.db.session() as s:
        org = s.scalars(select(Organisation)).first()
        with pytest.raises(Conflict):
            certs.allocate_blanks(s, None, org, "АА", 40, 60)


def test_lifecycle_revoke_expire_replace_and_public_view(rt, centre):  # noqa: ANN001
    issued = certs.issue(rt, "head", centre, rows(3), PIN).issued
    with rt.db.session() as s:
        head = users.get_user(s, "head")
        with pytest.raises(Invalid):
            certs.revoke(s, head, certs.get(s, head, issued[0]["number"]), "ошибка", "", date.today())
        certs.revoke(s, head, certs.get(s, head, issued[0]["number"]), "выявлено нарушение", "12-п", date.today())
    dup = certs.replace(rt, "head", issued[1]["number"], PIN, "утрата")
    with rt.db.session() as s:
        c = s.scalars(select(Certificate).where(Certificate.number == issued[2]["number"])).one()
        c.valid_until = date.today() - timedelta(days=1)
    with rt.db.session() as s:
        views = {n: certs.public_view(s, certs.lookup_by_token(s, s.scalars(select(Certificate.token).where(
            Certificate.number == n)).one())) for n in (issued[0]["number"], issued[1]["number"],
                                                         issued[2]["number"], dup["new"])}
        assert certs.expire_due(s) == [issued[2]["number"]]
    assert views[issued[0]["number"]]["status"] == "revoked" and views[issued[0]["number"]]["revoke_order"]
    replaced = views[issued[1]["number"]]
    assert replaced["status"] == "replaced" and replaced["replaced_by"] == dup["new"]
    assert views[dup["new"]]["status"] == "issued" and views[dup["new"]]["replaces"] == issued[1]["number"]
    assert views[issued[2]["number"]]["status"] == "expired"
    for view in views.values():
        text = repr(view)
        assert "1985" not in text and not any(n in text for n in SNILS) and "Иванович" not in text


def test_lookup_by_number_and_surname_cannot_tell_unknown_from_wrong(rt, centre):  # noqa: ANN001
    issued = certs.issue(rt, "head", centre, rows(4), PIN).issued
    with rt.db.session() as s:
        assert certs.lookup_by_number(s, issued[0]["number"], "ИВАНОВ").number == issued[0]["number"]
        assert certs.lookup_by_number(s, issued[3]["number"], "Елкина") is not None  # ё and е are the same
        assert certs.lookup_by_number(s, issued[0]["number"], "Петров") is None
        assert certs.lookup_by_number(s, "ЦОК-77-001-1999-00001", "Иванов") is None
        assert certs.lookup_by_token(s, "short") is None


def test_web_batch_issue_shows_progress_until_done(rt, centre, world, client):  # noqa: ANN001
    import time as _time

    from .conftest import csrf_of
    from dms import jobs
    world.login(client, "head")
    jobs.announce(rt)  # a job worker listens (this process: it runs the queue below)
    token = csrf_of(client, "/certificates/issue")
    data = ("ФИО;Квалификация;Уровень;Дата экзамена;Номер протокола\n"
            + "".join(f"{n};Монтажник;3;{(date.today() - timedelta(days=1)).strftime('%d.%m.%Y')};П-9\n"
                      for n in ("Орлов Олег Петрович", "Белова Вера Ильинична", "Зайцев Юрий Андреевич")))
    r = client.post("/certificates/issue", content_type="multipart/form-data", data={
        "csrf_token": token, "centre": centre, "pin": PIN, "confirm": "1",
        "file": (io.BytesIO(data.encode()), "protokol.csv")})
    assert r.status_code == 302 and "/certificates/batches/" in r.headers["Location"]
    status_url = r.headers["Location"] + ".json"
    assert client.get(status_url).get_json()["stage"] == "queued"
    jobs.run_pending(rt)
    for _ in range(240):
        state = client.get(status_url).get_json()
        if state["stage"] in ("done", "failed"):
            break
        _time.sleep(0.25)
    assert state["stage"] == "done" and state["done"] == state["total"] == 3, state
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Орлов Олег Петрович" in page and "<progress" in page


def test_web_issue_with_a_bad_row_lists_the_rows_and_issues_nothing(rt, centre, world, client):  # noqa: ANN001
    from .conftest import csrf_of
    world.login(client, "head")
    data = "ФИО;Квалификация;Уровень;Дата экзамена;Номер протокола\nорлов;Монтажник;30;вчера;\n"
    r = client.post("/certificates/issue", content_type="multipart/form-data", data={
        "csrf_token": csrf_of(client, "/certificates/issue"), "centre": centre, "pin": PIN,
        "file": (io.BytesIO(data.encode()), "p.csv")})
    assert r.status_code == 400
    assert "строка 2:" in r.get_data(as_text=True)
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Certificate)) == 0


def test_cli_issue_prints_json_lines_and_refuses_a_bad_file(rt, centre, settings, tmp_path):  # noqa: ANN001
    import json as _json
    import os
    import subprocess
    import sys
    env = {**os.environ, "DMS_DATA_DIR": str(settings.data_dir), "DMS_DATABASE_URL": settings.database_url,
           "DMS_STORAGE_URL": settings.storage_url, "DMS_INDEX_DIR": str(settings.index_dir), "DMS_SECRET_KEY": "x",
           "DMS_PIN": PIN}
    good = tmp_path / "good.csv"
    good.write_text("ФИО;Квалификация;Уровень;Дата экзамена;Номер протокола\n"
                    "Котов Илья Сергеевич;Монтажник;3;01.03.2026;П-2\n", encoding="cp1251")
    r = subprocess.run([sys.executable, "-m", "dms", "certificates", "issue", str(good), "--centre", centre,
                        "--as", "head"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    line = _json.loads(r.stdout.splitlines()[0])
    assert line["holder"] == "Котов Илья Сергеевич" and line["blank"] == "АА0000001"
    bad = tmp_path / "bad.csv"
    bad.write_text("ФИО;Квалификация;Уровень;Дата экзамена;Номер протокола\nКотов;;3;01.03.2026;П-2\n")
    r = subprocess.run([sys.executable, "-m", "dms", "certificates", "issue", str(bad), "--centre", centre,
                        "--as", "head"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "строка 2" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_api_issue_revoke_and_replace(rt, centre, world, client):  # noqa: ANN001
    from dms import jobs
    h = world.token(client, "head")
    jobs.announce(rt)  # a job worker listens (this process: run_pending below); the batch is its job
    data = "ФИО;Квалификация;Уровень;Дата экзамена;Номер протокола\nГусев Олег Ильич;Монтажник;3;01.03.2026;П-3\n"
    r = client.post("/api/v1/certificates/batches", headers=h, content_type="multipart/form-data", data={
        "centre": centre, "pin": PIN, "file": (io.BytesIO(data.encode()), "p.csv")})
    assert r.status_code == 202, r.get_json()
    jobs.run_pending(rt)
    number = client.get(r.get_json()["url"], headers=h).get_json()["issued"][0]["number"]
    card = client.get(f"/api/v1/certificates/{number}", headers=h).get_json()
    assert card["holder"] == "Гусев Олег Ильич" and card["status"] == "issued"
    dup = client.post(f"/api/v1/certificates/{number}/replace", headers=h, json={"pin": PIN, "reason": "утрата"})
    assert dup.status_code == 201, dup.get_json()
    new = dup.get_json()["new"]
    revoked = client.post(f"/api/v1/certificates/{new}/revoke", headers=h,
                          json={"reason": "ошибка в протоколе", "order_number": "3-п",
                                "order_date": date.today().isoformat()})
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    assert client.get(f"/api/v1/certificates/{number}", headers=h).get_json()["status"] == "replaced"
