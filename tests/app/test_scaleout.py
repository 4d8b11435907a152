"""Scale-out (issue 17.6): two app instances — two `create_app`, each with its own Runtime (engine, pool, store
client, caches), as two hosts would have — on the same PostgreSQL database and the same object store. What one
acknowledges the other serves; an Idempotency-Key sent to one and then retried on the other creates one document.
bench/scaleout.py proves the same with two `dms serve` processes, one of them killed under load."""
from __future__ import annotations

import hashlib
import io

import pytest
from sqlalchemy import func, select

from dms.app import create_app
from dms.models import Document, Version
from dms.runtime import Runtime
from tests.app.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs DMS_TEST_DATABASE_URL (PostgreSQL)")


@pytest.fixture
def host_b(settings):  # noqa: ANN001, ANN201
    """A second instance on the same database and store (its own Runtime: nothing shared in memory with A)."""
    runtime = Runtime(settings)
    app = create_app(runtime=runtime)
    app.config.update(TESTING=True)
    yield app.test_client()
    runtime.close()


@pytest.fixture
def clerk(world):  # noqa: ANN001, ANN201
    world.user("clerk", "Clerk")
    return world.folder("/Входящие")


def _create(client, headers: dict, folder_id: int, title: str, data: bytes):  # noqa: ANN001, ANN202
    return client.post("/api/v1/documents", headers=headers, content_type="multipart/form-data",
                       data={"folder_id": str(folder_id), "type": "other", "title": title,
                             "file": (io.BytesIO(data), "note.txt")})


def test_a_write_acknowledged_by_one_instance_is_read_by_the_other(rt, client, host_b, world, clerk):  # noqa: ANN001
    data = "Служебная записка о переносе архива\n".encode()
    on_a = world.token(client, "clerk")
    created = _create(client, on_a, clerk.id, "Записка", data)
    assert created.status_code == 201, created.get_json()
    doc = created.get_json()
    seen = host_b.get(f"/api/v1/documents/{doc['id']}", headers=on_a)  # A's token is good on B
    on_b = world.token(host_b, "clerk")
    assert seen.status_code == 200 and seen.get_json()["versions"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    content = host_b.get(doc["versions"][0]["content_url"], headers=on_b)
    assert content.status_code == 200 and content.data == data
    # and back: a version uploaded through B is A's current version at once (no cache in between)
    second = b"second version, uploaded to host B\n"
    up = host_b.post(f"/api/v1/documents/{doc['id']}/versions", headers=on_b, content_type="multipart/form-data",
                     data={"file": (io.BytesIO(second), "note2.txt")})
    assert up.status_code == 201, up.get_json()
    again = client.get(f"/api/v1/documents/{doc['id']}", headers=on_a)
    assert again.get_json()["current_version"] == 2 and again.headers["ETag"] == up.headers["ETag"]
    assert client.get(f"/api/v1/documents/{doc['id']}/versions/2/content", headers=on_a).data == second


def test_the_same_idempotency_key_sent_to_one_instance_then_the_other_creates_one_document(
        rt, client, host_b, world, clerk):  # noqa: ANN001
    data = b"an upload whose answer was lost on its way back from host A\n"
    key = {"Idempotency-Key": "lost-answer-1"}
    first = _create(client, {**world.token(client, "clerk"), **key}, clerk.id, "Потерянный ответ", data)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    retried = _create(host_b, {**world.token(host_b, "clerk"), **key}, clerk.id, "Потерянный ответ", data)
    assert retried.status_code == 201 and retried.headers["Idempotent-Replayed"] == "true"
    assert retried.get_json() == first.get_json() and retried.headers["Location"] == first.headers["Location"]
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Document).where(Document.title == "Потерянный ответ")) == 1
        assert s.scalar(select(func.count()).select_from(Version)
                        .where(Version.document_id == first.get_json()["id"])) == 1
    other = _create(host_b, {**world.token(host_b, "clerk"), **key}, clerk.id, "Другой документ", data)
    assert other.status_code == 422  # the same key with another request: refused on B as on A
