from __future__ import annotations

import asyncio
import hashlib
import io
import shutil
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asn1crypto import tsp
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data

from signing.errors import TimestampError
from signing.pades import Level, SignRequest, sign_pdf
from signing.tsa import CONTENT_TYPE_REPLY, ExternalTimeStamper, _StatusOnlyResp, token_time
from signing.validate import validate_pdf


def _request(digest: bytes, algorithm: str = "sha256", nonce: int | None = 42) -> bytes:
    fields = {
        "version": 1,
        "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
        "cert_req": True,
    }
    if nonce is not None:
        fields["nonce"] = nonce
    return tsp.TimeStampReq(fields).dump()


def test_tsa_grants_a_trusted_token_over_the_requested_imprint(pki):
    digest = hashlib.sha256(b"document").digest()
    response = tsp.TimeStampResp.load(pki.tsa.respond(_request(digest)))
    assert response["status"]["status"].native == "granted"
    signed_data = response["time_stamp_token"]["content"]
    tst_info = signed_data["encap_content_info"]["content"].parsed
    assert tst_info["nonce"].native == 42
    status = asyncio.run(
        validate_tst_signed_data(signed_data, pki.trust.validation_context(), lambda _algo: digest)
    )
    assert status["intact"] and status["valid"]
    assert status["validation_path"] is not None  # chains to our root
    assert abs((token_time(pki.tsa.respond(_request(digest))) - status["timestamp"]).total_seconds()) < 60


def test_malformed_request_gets_a_rejection_not_an_exception(pki):
    for garbage in (b"", b"\x30\x03\x02\x01", b"GET / HTTP/1.1\r\n", bytes(range(256))):
        answer = _StatusOnlyResp.load(pki.tsa.respond(garbage)).native
        assert answer["status"]["status"] == "rejection"
        assert answer["status"]["fail_info"] == {"bad_data_format"}


def test_request_with_inconsistent_digest_is_rejected(pki):
    answer = _StatusOnlyResp.load(pki.tsa.respond(_request(b"short"))).native
    assert answer["status"]["fail_info"] == {"bad_alg"}
    answer = _StatusOnlyResp.load(pki.tsa.respond(_request(bytes(20), algorithm="sha1"))).native
    assert answer["status"]["fail_info"] == {"bad_alg"}


@pytest.fixture
def http_tsa(pki):
    """Our TSA behind a real HTTP endpoint on the loopback interface."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = pki.tsa.respond(body)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_REPLY)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    server.shutdown()
    server.server_close()


def test_external_tsa_url_gives_a_b_t_signature(pki, one_page_pdf, http_tsa):
    signed = sign_pdf(one_page_pdf, pki.agency_signer, SignRequest(level=Level.B_T, timestamper=http_tsa))
    report = validate_pdf(signed, pki.trust)
    assert report.signatures[0].status == "valid"
    assert report.signatures[0].level == "B-T"
    assert report.signatures[0].timestamp_trusted is True


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_tsa_fails_signing_loudly_and_writes_nothing(pki, one_page_pdf):
    output = io.BytesIO()
    request = SignRequest(level=Level.B_T, timestamper=ExternalTimeStamper(f"http://127.0.0.1:{_closed_port()}/", timeout=2))
    with pytest.raises(TimestampError) as refusal:
        sign_pdf(one_page_pdf, pki.agency_signer, request, output=output)
    assert output.getvalue() == b""
    assert "штамп" in str(refusal.value)


def test_b_t_without_a_tsa_is_refused_instead_of_downgraded():
    with pytest.raises(TimestampError):
        SignRequest(level=Level.B_T, timestamper=None)


@pytest.mark.skipif(not shutil.which("openssl"), reason="the openssl command is required")
def test_openssl_verifies_our_time_stamp_response_against_the_org_root(pki, tmp_path):
    digest = hashlib.sha256(b"document").digest()
    request = _request(digest, nonce=7)
    (tmp_path / "req.tsq").write_bytes(request)
    (tmp_path / "resp.tsr").write_bytes(pki.tsa.respond(request))
    (tmp_path / "chain.pem").write_bytes(pki.ca.certificate_pem("root") + pki.ca.certificate_pem("issuing"))
    verify = ["openssl", "ts", "-verify", "-queryfile", "req.tsq", "-in", "resp.tsr", "-CAfile", "chain.pem"]
    result = subprocess.run(verify, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stdout + result.stderr
    (tmp_path / "other.tsq").write_bytes(_request(hashlib.sha256(b"other").digest(), nonce=7))
    verify[4] = "other.tsq"
    assert subprocess.run(verify, cwd=tmp_path, capture_output=True, timeout=30).returncode != 0
