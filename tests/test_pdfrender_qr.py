"""A certificate's QR code: the version found once per URL length, the same code as qrcode's own fitting."""
from __future__ import annotations

import qrcode
from qrcode.constants import ERROR_CORRECT_M

from dms import pdfrender


def test_qr_codes_of_one_length_find_their_version_once_and_are_the_fitted_codes(monkeypatch):  # noqa: ANN001
    urls = [f"https://dms.example.org/verify/t/{n:06d}Ab_-cdEFgh1234567X" for n in range(5)]
    fitted = []
    for url in urls:
        code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=2, mask_pattern=pdfrender.QR_MASK_PATTERN)
        code.add_data(url)
        code.make(fit=True)
        fitted.append(bytes(0 if dark else 255 for row in code.get_matrix() for dark in row))
    searches = []
    real_best_fit = qrcode.QRCode.best_fit

    def best_fit(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        searches.append(1)
        return real_best_fit(self, *args, **kwargs)

    monkeypatch.setattr(qrcode.QRCode, "best_fit", best_fit)
    assert [pdfrender.qr_image(url).tobytes() for url in urls] == fitted
    # one fitting for all five (qrcode calls best_fit twice in it), not one per code: each encodes the code again
    assert len(searches) <= 2
