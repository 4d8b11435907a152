"""Public verification of certificates, no login: by number and surname, by QR token, by uploaded PDF; the
same answer for unknown and wrong; never SNILS or a birth date; rate-limited and audited."""
from __future__ import annotations

import io
import re
from datetime import date

import pytest
from sqlalchemy import select

from dms.models import AuditEvent, Certificate, Version
from dms.ratelimit import LIMITS, Limit
from dms.certificates import service as certs
from dms.people import users

from .test_certificates import SNILS, centre, rows  # noqa: F401  (fixtures)
from .test_signing import PIN, ca_template, pki  # noqa: F401


@pytest.fixture
def issued(rt, centre):  # noqa: ANN001, ANN201, F811
    out = certs.issue(rt, "head", centre, rows(4), PIN).issued
    with rt.db.session() as s:
        head = users.get_user(s, "head")
        certs.revoke(s, head, certs.get(s, head, out[1]["number"]), "нарушение порядка экзамена", "7-п",
                     date.today())
    dup = certs.replace(rt, "head", out[2]["number"], PIN, "утрата бланка")
    with rt.db.session() as s:
        cert = s.scalars(select(Certificate).where(Certificate.number == out[3]["number"])).one()
        cert.valid_until = cert.issue_date.replace(year=cert.issue_date.year - 1)
        tokens = {c.number: c.token for c in s.scalars(select(Certificate))}
    return {"valid": out[0], "revoked": out[1], "replaced": out[2], "expired": out[3], "dup": dup["new"],
            "tokens": tokens}


SURNAMES = {0: "Иванов", 1: "Петрова", 2: "Сидоров", 3: "Ёлкина"}


def test_each_status_by_number_and_surname_token_and_api(client, issued):  # noqa: ANN001
    expected = {"valid": "issued", "revoked": "revoked", "replaced": "replaced", "expired": "expired"}
    for i, (key, status) in enumerate(expected.items()):
        number = issued[key]["number"]
        page = client.post("/verify", data={"number": number, "surname": SURNAMES[i],
                                            "csrf_token": _csrf(client, "/verify")})
        assert page.status_code == 200, key
        api = client.get("/api/v1/verify", query_string={"number": number, "surname": SURNAMES[i].upper()})
        assert api.status_code == 200 and api.get_json()["certificate"]["status"] == status
        by_token = client.get(f"/verify/t/{issued['tokens'][number]}")
        assert by_token.status_code == 200 and certs.STATUS_RU[status] in by_token.get_data(as_text=True).lower()
        api_token = client.get(f"/api/v1/verify/token/{issued['tokens'][number]}")
        assert api_token.get_json()["certificate"]["status"] == status
    revoked = client.get("/api/v1/verify", query_string={"number": issued["revoked"]["number"],
                                                          "surname": "Петрова"}).get_json()["certificate"]
    assert revoked["revoked_at"] and revoked["revoke_order"] == f"№ 7-п от {date.today():%d.%m.%Y}"
    replaced = client.get("/api/v1/verify", query_string={"number": issued["replaced"]["number"],
                                                           "surname": "Сидоров"}).get_json()["certificate"]
    assert replaced["replaced_by"] == issued["dup"]
    assert replaced["replaced_at"] == date.today().isoformat()  # since when: the duplicate's issue date, as the card


def _card(html: str) -> str:
    """The certificate card of a public page, its tags dropped and its spaces joined."""
    found = re.search(r'<section class="cert-card[^"]*">(.*?)</section>', html, re.S)
    assert found, "no certificate card on the page"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_revoked_and_replaced_results_say_so_when_and_by_what_on_the_number_and_qr_pages(client, issued):  # noqa: ANN001
    """Russian first: the card says the certificate is not in force, since when, by which order or which duplicate
    replaces it (a link that fills in the duplicate's number), and shows nothing personal beyond the valid card."""
    today = f"{date.today():%d.%m.%Y}"
    cards = {}
    for key, surname in (("valid", "Иванов"), ("revoked", "Петрова"), ("replaced", "Сидоров")):
        number = issued[key]["number"]
        by_number = client.post("/verify", data={"number": number, "surname": surname,
                                                 "csrf_token": _csrf(client, "/verify")})
        by_qr = client.get(f"/verify/t/{issued['tokens'][number]}")
        assert by_number.status_code == by_qr.status_code == 200, key
        cards[key] = _card(by_number.get_data(as_text=True))
        assert _card(by_qr.get_data(as_text=True)) == cards[key], key  # the same card either way

    revoked = cards["revoked"]
    assert revoked.startswith(f"Аннулировано с {today} Свидетельство не действует.")
    assert f"Аннулировано приказом № 7-п от {today}." in revoked
    replaced = cards["replaced"]
    assert replaced.startswith(f"Заменено дубликатом с {today} "
                               "Свидетельство не действует: вместо него выдан дубликат.")
    assert f"Проверить дубликат № {issued['dup']}" in replaced and f"{issued['dup']} от {today}" in replaced
    page = client.post("/verify", data={"number": issued["replaced"]["number"], "surname": "Сидоров",
                                        "csrf_token": _csrf(client, "/verify")}).get_data(as_text=True)
    link = re.search(r'<a href="([^"]+)">Проверить дубликат', page).group(1)
    assert link.startswith("/verify?number=")
    prefilled = client.get(link.replace("&amp;", "&"))  # fills the form in; asks nothing yet (no surname)
    html = prefilled.get_data(as_text=True)
    assert prefilled.status_code == 200 and f'name="number" value="{issued["dup"]}"' in html
    assert "не найдено" not in html and "cert-card" not in html
    # Nothing personal beyond the valid card: the masked name only; no reason, SNILS, birth date or full name.
    for card in (revoked, replaced):
        for secret in ("нарушение порядка экзамена", "утрата бланка", "1985", "Анна", "Пётр", "Сергеевна", "Ильич",
                       *SNILS):
            assert secret not in card, secret
    assert "Петрова А. С." in revoked and "Сидоров П. И." in replaced

    client.get("/language/en?next=/verify")  # the English UI says the same in English
    english = _card(client.get(f"/verify/t/{issued['tokens'][issued['replaced']['number']]}").get_data(as_text=True))
    assert "The certificate is not in force: a duplicate was issued in its place." in english
    assert f"Check duplicate No. {issued['dup']}" in english and "не действует" not in english
    english = _card(client.get(f"/verify/t/{issued['tokens'][issued['revoked']['number']]}").get_data(as_text=True))
    assert "The certificate is not in force. Revoked by order № 7-п" in english


def test_no_response_ever_contains_snils_or_birth_date_or_full_name(client, issued):  # noqa: ANN001
    bodies = [client.get(f"/verify/t/{t}").get_data(as_text=True) for t in issued["tokens"].values()]
    bodies += [client.get(f"/api/v1/verify/token/{t}").get_data(as_text=True) for t in issued["tokens"].values()]
    for body in bodies:
        assert "11223344595" not in body and "112-233-445" not in body
        assert "1985" not in body and "01.02.1985" not in body
        assert "Иванович" not in body and "Сергеевна" not in body
    assert "Иванов И. И." in bodies[0] or any("Иванов И. И." in b for b in bodies)


def test_unknown_number_and_wrong_surname_cannot_be_told_apart(client, issued):  # noqa: ANN001
    wrong = client.get("/api/v1/verify", query_string={"number": issued["valid"]["number"], "surname": "Петров"})
    unknown = client.get("/api/v1/verify", query_string={"number": "ЦОК-00-000-1999-00001", "surname": "Иванов"})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.get_data() == unknown.get_data()
    token = _csrf(client, "/verify")
    pages = [client.post("/verify", data={"number": n, "surname": s, "csrf_token": token}).get_data(as_text=True)
             for n, s in ((issued["valid"]["number"], "Петров"), ("НЕТ-ТАКОГО", "Иванов"))]
    # The form's CSRF token carries the second it was made: two pages a second apart differ there and only there.
    strip = [re.sub(r'name="csrf_token" value="[^"]+"', "", p)
             .replace(issued["valid"]["number"], "N").replace("НЕТ-ТАКОГО", "N").replace("Петров", "S")
             .replace("Иванов", "S") for p in pages]
    assert strip[0] == strip[1]
    assert client.get("/verify/t/AAAAAAAAAAAAAAAAAAAAAAAA").status_code == 404


def test_uploaded_pdf_authentic_and_tampered_copy_caught(client, issued, rt):  # noqa: ANN001
    with rt.db.session() as s:
        doc_id = issued["valid"]["id"]
        version = s.scalars(select(Version).where(Version.document_id == doc_id)).one()
        pdf = rt.store.get_bytes(version.object_key)
    ok = client.post("/api/v1/verify/certificate", data={"file": (io.BytesIO(pdf), "c.pdf")},
                     content_type="multipart/form-data").get_json()
    assert ok["authentic"] and ok["certificate"]["number"] == issued["valid"]["number"]
    tampered = bytearray(pdf)
    pos = tampered.find(b"/Producer")
    tampered[pos + 12:pos + 13] = b"X" if tampered[pos + 12:pos + 13] != b"X" else b"Y"
    bad = client.post("/api/v1/verify/certificate", data={"file": (io.BytesIO(bytes(tampered)), "c.pdf")},
                      content_type="multipart/form-data").get_json()
    assert not bad["authentic"] and bad["certificate"] is None and bad["reasons"]
    page = client.post("/verify/file", data={"file": (io.BytesIO(bytes(tampered)), "c.pdf"),
                                             "csrf_token": _csrf(client, "/verify/file")},
                       content_type="multipart/form-data")
    assert "не подтверждён" in page.get_data(as_text=True)


def test_lookups_are_rate_limited_per_client_and_audited(client, issued, rt, monkeypatch):  # noqa: ANN001
    monkeypatch.setitem(LIMITS, "verify", Limit(5))
    codes = [client.get("/api/v1/verify", query_string={"number": "X", "surname": "Y"}).status_code for _ in range(7)]
    assert codes[:5] == [404] * 5 and codes[5:] == [429, 429]
    with rt.db.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "verification").order_by(AuditEvent.id)).all()
    assert len([e for e in events if e.details.get("channel") == "number"]) == 5
    assert all("client" in e.details and "." not in e.details["client"] for e in events)  # a digest, not the IP


def test_the_limit_is_shared_by_every_worker_of_the_host(app, issued, monkeypatch):  # noqa: ANN001
    """Two app instances over one data directory stand for two gunicorn workers: a client gets the limit once,
    not once per worker."""
    from dms.app import create_app
    monkeypatch.setitem(LIMITS, "verify", Limit(4))
    second = create_app(runtime=app.extensions["dms_runtime"])
    clients = [app.test_client(), second.test_client()]
    codes = [clients[n % 2].get("/api/v1/verify", query_string={"number": "X", "surname": "Y"}).status_code
             for n in range(6)]
    assert codes == [404] * 4 + [429, 429]
    other = app.test_client()  # another address is counted on its own
    assert other.get("/api/v1/verify", query_string={"number": "X", "surname": "Y"},
                     environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 404


def test_the_time_stamp_authority_and_the_public_pdf_check_are_rate_limited(client, issued, monkeypatch):  # noqa: ANN001
    monkeypatch.setitem(LIMITS, "tsa", Limit(2))
    monkeypatch.setitem(LIMITS, "verify_file", Limit(1))
    codes = [client.post("/tsa", data=b"not a query", content_type="application/timestamp-query").status_code
             for _ in range(3)]
    assert codes[2] == 429 and 429 not in codes[:2]
    pdf = {"file": (io.BytesIO(b"%PDF-1.4 broken"), "x.pdf")}
    first = client.post("/api/v1/verify/pdf", data=pdf, content_type="multipart/form-data")
    assert first.status_code != 429
    again = client.post("/api/v1/verify/pdf", data={"file": (io.BytesIO(b"%PDF-1.4 broken"), "x.pdf")},
                        content_type="multipart/form-data")
    assert again.status_code == 429 and "повторите через минуту" in again.get_json()["error"]["message"]


def test_outsider_cannot_open_a_certificate_card(world, client, issued):  # noqa: ANN001
    world.user("stranger")
    world.login(client, "stranger")
    number = issued["valid"]["number"]
    assert client.get(f"/certificates/card/{number}").status_code == 404
    assert number not in client.get("/certificates").get_data(as_text=True)
    h = world.token(client, "stranger")
    assert client.get(f"/api/v1/certificates/{number}", headers=h).status_code == 404


def _csrf(client, url: str) -> str:  # noqa: ANN001
    from .conftest import csrf_of
    return csrf_of(client, url)


def test_a_typed_number_in_lower_case_finds_the_certificate_and_a_wrong_surname_does_not(rt, issued):  # noqa: ANN001
    number = issued["valid"]["number"]
    with rt.db.read_session() as reader:
        assert certs.lookup_by_number(reader, number.lower(), "иванов").number == number
        assert certs.lookup_by_number(reader, f"  {number} ", "ИВАНОВ").number == number
        assert certs.lookup_by_number(reader, number.lower(), "Петрова") is None


def test_a_lookup_reads_while_a_writer_holds_the_database_and_cannot_write_through_its_reader(rt, issued):  # noqa: ANN001
    """The public lookup reads in a read-only session: on SQLite a deferred transaction that takes no lock, so it
    answers while another transaction holds the write lock (which every ordinary session takes first, BEGIN
    IMMEDIATE); a write through the reader is refused by the database itself (SQLite query_only, PostgreSQL READ
    ONLY), and by the session before it is sent."""
    import threading
    import time

    from sqlalchemy import insert
    from sqlalchemy.exc import DBAPIError

    from dms.models import Organisation
    number = issued["valid"]["number"]
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with rt.db.session() as s:
            s.add(Organisation(code="ЦОК-99-999", name="Пишущий", kind="assessment_centre"))
            s.flush()  # the write lock is held from here to the commit
            holding.set()
            release.wait(20)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(20)
        started = time.monotonic()
        with rt.db.read_session() as reader:
            cert = certs.lookup_by_number(reader, number, "Иванов")
            assert reader.scalar(select(Organisation.id).where(Organisation.code == "ЦОК-99-999")) is None
        assert cert is not None and cert.number == number and cert.state == "issued"
        assert time.monotonic() - started < 5  # did not wait for the writer (SQLite's busy timeout is 30 s)
    finally:
        release.set()
        thread.join(30)
    with rt.db.read_session() as reader:  # the writer's commit is seen by a later reader
        assert reader.scalar(select(Organisation.id).where(Organisation.code == "ЦОК-99-999")) is not None
    with pytest.raises(DBAPIError), rt.db.read_session() as reader:
        reader.execute(insert(Organisation).values(code="ЦОК-99-998", name="Нельзя", kind="assessment_centre"))
    with pytest.raises(RuntimeError, match="read-only"), rt.db.read_session() as reader:
        reader.add(Organisation(code="ЦОК-99-997", name="Нельзя", kind="assessment_centre"))
        reader.flush()
    with rt.db.session() as s:
        assert s.scalars(select(Organisation.code).where(Organisation.code.in_(["ЦОК-99-998", "ЦОК-99-997"]))
                         ).all() == []


def test_a_limiter_opening_a_locked_new_file_waits_and_counts(tmp_path, monkeypatch, caplog):  # noqa: ANN001
    """Switching a new limiter file to WAL is answered "database is locked" at once while another connection holds
    it (SQLite's busy timeout does not apply): the limiter waits as for any statement and counts the request, never
    letting it through uncounted (CI saw 51 yeses of a limit of 50 once in a hundred runs)."""
    import sqlite3
    import threading

    from dms.ratelimit import RateLimiter
    monkeypatch.setitem(LIMITS, "verify", Limit(50))
    path = tmp_path / "limits.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE early (x)")
    other.execute("BEGIN IMMEDIATE")  # another worker's connection, mid-write on the file before it is WAL
    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    with caplog.at_level("WARNING", logger="dms.ratelimit"):
        assert RateLimiter(path).allow("verify", "203.0.113.7")
    assert not caplog.records
    other.close()
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert con.execute("SELECT COUNT(*) FROM hits").fetchone() == (1,)


def test_the_limit_holds_exactly_when_many_connections_count_at_once(tmp_path, monkeypatch):  # noqa: ANN001
    """The limiter checks and counts in one statement (SQLite takes the file's write lock before it reads): eight
    threads, each with its own connection as a gunicorn thread has, asking 160 times for a limit of 50 get exactly
    50 yeses."""
    import threading

    from dms.ratelimit import RateLimiter
    monkeypatch.setitem(LIMITS, "verify", Limit(50))
    limiter = RateLimiter(tmp_path / "limits.sqlite3")
    barrier, answers = threading.Barrier(8), []

    def ask() -> None:
        barrier.wait()
        answers.extend(limiter.allow("verify", "203.0.113.7") for _ in range(20))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 160 and answers.count(True) == 50
    assert limiter.within("verify", "203.0.113.8") and not limiter.within("verify", "203.0.113.7")
