"""Numbers typed into query strings and forms are ASCII digits or nothing: «²» (str.isdigit() says yes, int() says
no) and other scripts' digits answer like any other non-number — never a 500 (issue 15's fuzz finding, left open
last session: about twenty `x.isdigit()` → `int(x)` spots)."""
from __future__ import annotations

import pytest

from .conftest import csrf_of

ODD = ("²", "１２", "٣", "1²")


@pytest.fixture
def admin_client(app, world):  # noqa: ANN001, ANN201
    world.user("admin", "Administrator")
    client = app.test_client()
    world.login(client, "admin")
    return client


@pytest.mark.parametrize("value", ODD)
def test_odd_digits_in_page_numbers_and_filters_are_not_numbers(admin_client, world, value) -> None:  # noqa: ANN001
    folder = world.folder("/Архив")
    for url in (f"/audit?page={value}", f"/certificates?page={value}", f"/folders/{folder.id}?page={value}",
                f"/folders/{folder.id}?organisation={value}", f"/search?q=приказ&year={value}",
                f"/reports/new/pilot_site?folder={value}", f"/verify/document/{value}"):
        r = admin_client.get(url)
        assert r.status_code < 500, (url, r.status_code)


@pytest.mark.parametrize("value", ODD)
def test_odd_digits_as_a_form_revision_are_no_revision(admin_client, world, value) -> None:  # noqa: ANN001
    world.folder("/Архив")
    doc = world.document("admin", "/Архив", b"%PDF-1.4\n%%EOF\n", title="Приказ")
    token = csrf_of(admin_client, f"/documents/{doc.id}")
    for url, data in ((f"/documents/{doc.id}/edit", {"title": "Приказ 2", "revision": value}),
                      (f"/documents/{doc.id}/transition/submit", {"revision": value}),
                      (f"/folders/{doc.folder_id}/bulk/move", {"ids": value, "target": value})):
        r = admin_client.post(url, data={**data, "csrf_token": token})
        assert r.status_code < 500, (url, r.status_code)
