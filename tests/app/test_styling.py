"""The UI's styling comes from a well-kept library served by the application itself: Pico CSS, vendored under
dms/static/vendor with its licence, linked before our own sheet; no page loads anything from another origin."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PICO = "vendor/pico-2.1.1/pico.min.css"


def test_pico_is_vendored_with_its_licence_and_served_locally(client):  # noqa: ANN001
    vendored = ROOT / "dms" / "static" / PICO
    assert vendored.is_file() and b"Pico CSS" in vendored.read_bytes()[:200]
    assert "MIT License" in (vendored.parent / "LICENSE.md").read_text(encoding="utf-8")
    r = client.get("/static/" + PICO)
    assert r.status_code == 200 and r.mimetype == "text/css"


def test_both_layouts_link_pico_before_our_sheet_and_every_page_loads_only_local_assets(client):  # noqa: ANN001
    page = client.get("/verify").get_data(as_text=True)
    sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert sheets == ["/static/" + PICO, "/static/style.css"]
    for template in (ROOT / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        external = re.findall(r'(?:src|href)="(?:https?:)?//[^"]+"', text)
        assert not external, f"{template.name} loads from another origin: {external}"
    layouts = [ROOT / "templates" / n for n in ("base.html", "public_base.html")]
    assert all(PICO in p.read_text(encoding="utf-8") for p in layouts)
