"""The PKI in the archive: CA created once and kept, certificates issued and revoked by administrators only,
revocation lists numbered upwards, public certificate and CRL downloads, the RFC 3161 endpoint."""
from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest
from asn1crypto import algos, core, tsp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from sqlalchemy import select

from dms.models import AuditEvent, SigningCredential
from dms.signatures import pki as pki_svc
from dms.people import users
from signing.tsa import token_time

from .conftest import csrf_of
from .test_cli import dms
from .test_signing import PIN, ca_template, issue, office, pki  # noqa: F401  (fixtures)


def test_init_creates_the_ca_once_with_a_private_passphrase_file(rt, monkeypatch):  # noqa: ANN001
    monkeypatch.delenv("DMS_PKI_PASSPHRASE", raising=False)
    first = pki_svc.init(rt)
    passphrase = pki_svc.pki_dir(rt.settings) / "passphrase"
    assert first["created"] and stat.S_IMODE(passphrase.stat().st_mode) == 0o600
    assert first["public_base_url"] == rt.settings.base_url + "/pki"
    again = pki_svc.init(rt)
    assert not again["created"] and again["fingerprints"] == first["fingerprints"]
    assert pki_svc.load(rt) is pki_svc.load(rt)  # loaded once per process


def test_cli_pki_init_issue_and_revoke(settings, rt, world, pki):  # noqa: ANN001, F811
    world.user("director", "Signatory")
    init = dms(settings, "pki", "init", "--json")
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["created"] is False
    short = dms(settings, "pki", "issue", "director", stdin="123\n")
    assert short.returncode == 2 and "не короче" in short.stderr
    issued = dms(settings, "pki", "issue", "director", stdin=PIN + "\n")
    assert issued.returncode == 0, issued.stderr
    cred = json.loads(issued.stdout)
    assert cred["active"] and cred["login"] == "director"
    revoked = dms(settings, "pki", "revoke", "director", "--reason", "key_compromise")
    assert revoked.returncode == 0, revoked.stderr
    with rt.db.session() as s:
        row = s.scalars(select(SigningCredential)).one()
        assert row.revoked_at is not None and row.revoke_reason == "key_compromise"
        assert s.scalars(select(AuditEvent.action).where(AuditEvent.action.startswith("pki."))
                         .order_by(AuditEvent.id)).all() == [
            "pki.issue", "pki.revoke"]


def test_cli_sign_prints_json_and_refuses_a_wrong_pin_on_one_line(settings, rt, office):  # noqa: ANN001, F811
    from .test_signing import on_signing
    doc_id = on_signing(rt, office)
    wrong = dms(settings, "sign", str(doc_id), "--as", "director", stdin="000000\n")
    assert wrong.returncode != 0 and len(wrong.stderr.strip().splitlines()) == 1 and "PIN" in wrong.stderr
    ok = dms(settings, "sign", str(doc_id), "--as", "director", stdin=PIN + "\n")
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["state"] == "signed" and data["signature"]["version"] == 2


def test_newest_unrevoked_credential_signs(rt, office):  # noqa: ANN001, F811
    second = issue(rt, "director", "65432198")
    with rt.db.session() as s:
        director = users.get_user(s, "director")
        assert pki_svc.active_credential(s, director).id == second.id
        assert pki_svc.unlock(rt, s, director, "65432198")[1].id == second.id
        pki_svc.revoke(rt, s, None, director, credential_id=second.id)
    with rt.db.session() as s:
        director = users.get_user(s, "director")
        assert pki_svc.active_credential(s, director).id != second.id
        pki_svc.unlock(rt, s, director, PIN)  # the older one still signs


def test_pkcs12_import_reencrypts_the_key_under_the_pin(rt, world, pki):  # noqa: ANN001, F811
    world.user("holder", "Signatory")
    external = pki.ca.issue_user_certificate("Волков Андрей Ильич", "p12-key-pin")
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    key = load_pem_private_key(external.encrypted_key_pem, b"p12-key-pin")
    cert = x509.load_der_x509_certificate(external.certificate_der)
    p12 = pkcs12.serialize_key_and_certificates(b"holder", key, cert, None, BestAvailableEncryption(b"file-pass"))
    with rt.db.session() as s:
        holder = users.get_user(s, "holder")
        with pytest.raises(Exception, match="PKCS|p12|пароль|Pkcs"):
            pki_svc.import_p12(rt, s, None, holder, p12, "wrong", PIN)
        row = pki_svc.import_p12(rt, s, None, holder, p12, "file-pass", PIN)
        assert row.imported and row.fingerprint == external.fingerprint
    with rt.db.session() as s:
        signer, _ = pki_svc.unlock(rt, s, users.get_user(s, "holder"), PIN)
        assert signer.fingerprint == external.fingerprint


def test_only_an_administrator_issues_and_revokes(rt, office, client):  # noqa: ANN001, F811
    with rt.db.session() as s, pytest.raises(pki_svc.AdminOnly):
        pki_svc.issue(rt, s, users.get_user(s, "clerk"), users.get_user(s, "newcomer"), PIN)
    office.login(client, "clerk")
    assert client.get("/pki/admin").status_code == 403
    token = csrf_of(client, "/")
    r = client.post("/pki/admin/revoke", data={"login": "director", "csrf_token": token})
    assert r.status_code == 403
    client.post("/logout", data={"csrf_token": token})

    office.login(client, "admin")
    page = client.get("/pki/admin")
    assert page.status_code == 200 and "director" in page.get_data(as_text=True)
    token = csrf_of(client, "/pki/admin")
    r = client.post("/pki/admin/issue", data={"login": "newcomer", "pin": PIN, "pin2": PIN, "csrf_token": token},
                    follow_redirects=True)
    assert "Выпущен сертификат" in r.get_data(as_text=True)
    r = client.post("/pki/admin/revoke", data={"login": "director", "reason": "superseded", "csrf_token": token},
                    follow_redirects=True)
    assert "Отозвано сертификатов: 1" in r.get_data(as_text=True)
    with rt.db.session() as s:
        assert pki_svc.active_credential(s, users.get_user(s, "newcomer")) is not None
        assert pki_svc.active_credential(s, users.get_user(s, "director")) is None


def test_ca_certificates_and_crls_are_published_without_login(rt, office, client):  # noqa: ANN001, F811
    ca = pki_svc.load(rt).ca
    r = client.get("/pki/root.crt")
    assert r.status_code == 200 and r.mimetype == "application/pkix-cert" and r.data == ca.root_certificate_der
    r = client.get("/pki/issuing.crt")
    assert r.mimetype == "application/pkix-cert" and r.data == ca.chain_der[0]
    root_crl = client.get("/pki/root.crl")
    assert root_crl.mimetype == "application/pkix-crl"
    assert x509.load_der_x509_crl(root_crl.data).is_signature_valid(ca.root.certificate.public_key())
    before = x509.load_der_x509_crl(client.get("/pki/issuing.crl").data)
    with rt.db.session() as s:
        serial = int(pki_svc.active_credential(s, users.get_user(s, "director")).serial, 16)
        pki_svc.revoke(rt, s, None, users.get_user(s, "director"), "key_compromise")
    after = x509.load_der_x509_crl(client.get("/pki/issuing.crl").data)
    number = lambda crl: crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number  # noqa: E731
    assert number(after) > number(before)
    assert before.get_revoked_certificate_by_serial_number(serial) is None
    assert after.get_revoked_certificate_by_serial_number(serial) is not None
    assert after.is_signature_valid(ca.issuing.certificate.public_key())
    # Certificates point at exactly these paths.
    user_cert = x509.load_der_x509_certificate(ca.issue_user_certificate("Проверка", PIN).certificate_der)
    points = user_cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == rt.settings.base_url + "/pki/issuing.crl"


class StatusOnly(core.Sequence):
    """A TimeStampResp that carries only its status (a rejection has no token)."""
    _fields = [("status", tsp.PKIStatusInfo)]


def _timestamp_request(data: bytes) -> bytes:
    return tsp.TimeStampReq({
        "version": "v1", "cert_req": True, "nonce": int.from_bytes(os.urandom(8), "big"),
        "message_imprint": {"hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                            "hashed_message": hashlib.sha256(data).digest()}}).dump()


def test_tsa_endpoint_answers_rfc3161_requests_and_rejects_garbage(rt, pki, client):  # noqa: ANN001, F811
    r = client.post("/tsa", data=_timestamp_request(b"document"), content_type="application/timestamp-query")
    assert r.status_code == 200 and r.mimetype == "application/timestamp-reply"
    token_time(r.data)  # a granted response with a time in it
    reply = tsp.TimeStampResp.load(r.data)
    tst = reply["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert tst["message_imprint"]["hashed_message"].native == hashlib.sha256(b"document").digest()

    garbage = client.post("/tsa", data=b"\x30\x03abc", content_type="application/timestamp-query")
    assert garbage.status_code == 200
    assert StatusOnly.load(garbage.data)["status"]["status"].native == "rejection"
    assert client.post("/tsa", data=b"x", content_type="text/plain").status_code == 415
    big = client.post("/tsa", data=b"0" * 100_000, content_type="application/timestamp-query")
    assert big.status_code == 413


def test_demo_signatory_gets_a_certificate_once(rt, world, monkeypatch, ca_template):  # noqa: ANN001, F811
    monkeypatch.setenv("DMS_PKI_PASSPHRASE", "demo-passphrase")
    world.user("director", "Signatory")
    pin = pki_svc.ensure_demo_signatory(rt)
    assert pin and len(pin) >= pki_svc.MIN_PIN
    assert pki_svc.ensure_demo_signatory(rt) is None
    with rt.db.session() as s:
        pki_svc.unlock(rt, s, users.get_user(s, "director"), pin)
