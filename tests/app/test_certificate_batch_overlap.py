"""A certificate batch renders while the signatory's PIN opens the key (issue 20), and still consumes nothing when
the PIN turns out wrong."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from dms import pdfrender
from dms.certificates import service as certs
from dms.models import Blank, IssueBatch, SigningCredential
from dms.signatures import pki as pki_svc

from .test_certificates import centre, rows  # noqa: F401  (fixture)
from .test_signing import PIN, ca_template, pki  # noqa: F401  (fixtures)


def test_a_batch_renders_while_the_pin_opens_the_key_and_a_wrong_pin_then_consumes_nothing(rt, centre, monkeypatch):  # noqa: ANN001, F811, E501
    """The key derivation of a PIN (0.6 s of one core) lets other threads run: the batch renders its certificates
    meanwhile instead of after it. The key waits here until a certificate has been rendered: opened before any
    rendering (the key first, then the work), it would wait in vain."""
    rendered = threading.Event()
    real_render, real_open = pdfrender.render_certificate_pdf, pki_svc.load_signer
    overlapped: list[bool] = []

    def render(spec, **kwargs):  # noqa: ANN001, ANN003, ANN202
        rendered.set()
        return real_render(spec, **kwargs)

    def open_key(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        overlapped.append(rendered.wait(timeout=20))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(pdfrender, "render_certificate_pdf", render)
    monkeypatch.setattr(pki_svc, "load_signer", open_key)

    with pytest.raises(pki_svc.SigningRefused):
        certs.issue(rt, "head", centre, rows(3), PIN[::-1] + "0")
    assert overlapped == [True]
    with rt.db.session() as s:  # rendered, then rolled back: no blank, number or reservation taken
        assert s.scalar(select(func.count()).select_from(Blank).where(Blank.status != "free")) == 0
        assert [b.reservation for b in s.scalars(select(IssueBatch))] == [None]
        assert s.scalar(select(SigningCredential.pin_failures)) == 1

    rendered.clear()
    result = certs.issue(rt, "head", centre, rows(3), PIN)
    assert overlapped == [True, True]
    assert [c["number"][-5:] for c in result.issued] == ["00001", "00002", "00003"]
    with rt.db.session() as s:
        assert s.scalar(select(SigningCredential.pin_failures)) == 0
