"""Fixtures for the application tests. They run once per backend:

- DMS_TEST_DATABASE_URL unset: SQLite (a migrated template file copied per test);
  set to postgresql://...: a throwaway database created for the session, truncated per test.
- DMS_TEST_STORAGE=s3: the object store is S3 over loopback (moto's server, or DMS_TEST_S3_ENDPOINT), a fresh
  bucket per test; otherwise the filesystem store.
"""
from __future__ import annotations

import io
import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from dms.app import create_app
from dms.config import Settings
from dms.db import Database
from dms.migrate import upgrade
from dms.models import Base
from dms.runtime import Runtime
from dms.documents import folders
from dms.operations import setup
from dms.people import users

PG_URL = os.environ.get("DMS_TEST_DATABASE_URL", "")
STORAGE = os.environ.get("DMS_TEST_STORAGE", "fs")
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def db_template(tmp_path_factory):  # noqa: ANN001, ANN201
    """A migrated, empty database: a file to copy (SQLite) or a database to truncate (PostgreSQL)."""
    if not PG_URL:
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"
        db = Database(f"sqlite:///{path}")
        upgrade(db.engine)
        db.dispose()
        yield ("sqlite", path)
        return
    name = f"pechat_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    engine = create_engine(url)
    _PG_EMPTYING[url] = (engine, _emptying_sql(engine))
    yield ("postgresql", url)
    _PG_EMPTYING.pop(url)[0].dispose()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# url -> (engine, SQL that empties every table of Base.metadata and restarts the sequences they own)
_PG_EMPTYING: dict[str, tuple] = {}


def _emptying_sql(engine) -> str:  # noqa: ANN001
    """What TRUNCATE ... RESTART IDENTITY CASCADE did per test, as row DELETEs: TRUNCATE gives each of the ~40 tables,
    their indexes and TOAST new files (about 1 s of server time per test, most of the per-test cost on PostgreSQL);
    deleting the few rows a test wrote takes milliseconds. Foreign-key triggers are off for the transaction
    (session_replication_role: every table is emptied, so no row is left dangling), so the order does not matter."""
    tables = [t.name for t in Base.metadata.sorted_tables]
    with engine.connect() as c:
        owned = c.execute(text(
            "SELECT DISTINCT quote_ident(n.nspname) || '.' || quote_ident(s.relname) FROM pg_class s"
            " JOIN pg_namespace n ON n.oid = s.relnamespace"
            " JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')"
            " JOIN pg_class t ON t.oid = d.refobjid"
            " WHERE s.relkind = 'S' AND t.relname = ANY(:tables) ORDER BY 1"), {"tables": tables}).scalars().all()
    return ("SET LOCAL session_replication_role = replica; SET LOCAL synchronous_commit = off; "
            + "".join(f'DELETE FROM "{t}"; ' for t in reversed(tables))
            + "".join(f"ALTER SEQUENCE {s} RESTART; " for s in owned))


@pytest.fixture(scope="session")
def s3_server():  # noqa: ANN201
    if STORAGE != "s3":
        yield None
        return
    from tests.s3server import start_s3_test_server
    server = start_s3_test_server()
    yield server
    server.stop()


def _database_url(db_template, tmp_path: Path) -> str:  # noqa: ANN001
    kind, where = db_template
    if kind == "sqlite":
        target = tmp_path / "dms.sqlite3"
        shutil.copyfile(where, target)
        return f"sqlite:///{target}"
    engine, emptying = _PG_EMPTYING[where]
    with engine.begin() as c:
        c.exec_driver_sql(emptying)
    return where


@pytest.fixture
def settings(tmp_path, db_template, s3_server) -> Settings:  # noqa: ANN001
    storage_url = s3_server.create_bucket() if s3_server else (tmp_path / "objects").as_uri()
    return Settings(data_dir=tmp_path, database_url=_database_url(db_template, tmp_path), storage_url=storage_url,
                    index_dir=tmp_path / "index", secret_key="test-secret-key", max_upload_bytes=5 * 1024 * 1024)


@pytest.fixture
def rt(settings):  # noqa: ANN001, ANN201
    runtime = Runtime(settings)
    setup.initialise(runtime)
    yield runtime
    runtime.close()


@pytest.fixture
def app(rt):  # noqa: ANN001, ANN201
    application = create_app(runtime=rt)
    application.config.update(TESTING=True)
    return application


@pytest.fixture
def client(app):  # noqa: ANN001, ANN201
    return app.test_client()


class World:
    """Builds users, folders and documents for a test in a few words."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    def user(self, login: str, *roles: str):  # noqa: ANN201
        with self.rt.db.session() as s:
            return users.create_user(s, login, PASSWORD, roles, full_name=login.title())

    def folder(self, path: str):  # noqa: ANN201
        with self.rt.db.session() as s:
            return folders.ensure(s, path)

    def share(self, path: str, login: str, role: str) -> None:
        from dms.documents import sharing
        with self.rt.db.session() as s:
            sharing.grant(s, None, folders.resolve(s, path), sharing.principal_for(s, login=login), role)

    def document(self, login: str, path: str, data: bytes | None = None, doc_type: str = "other",
                 title: str = "Документ", meta: dict | None = None, filename: str = "doc.pdf"):  # noqa: ANN201
        from dms.documents import service as documents
        stored = documents.store_upload(self.rt.store, io.BytesIO(data), filename,
                                        self.rt.settings.max_upload_bytes) if data is not None else None
        with self.rt.db.session() as s:
            actor = users.get_user(s, login)
            doc = documents.create(s, actor, folders.resolve(s, path), doc_type, title, meta)
            if stored:
                documents.add_version(s, actor, doc, stored)
            return doc

    def token(self, client, login: str) -> dict:  # noqa: ANN001
        r = client.post("/api/v1/tokens", json={"login": login, "password": PASSWORD})
        assert r.status_code == 201, r.get_json()
        return {"Authorization": "Bearer " + r.get_json()["token"]}

    def login(self, client, login: str) -> None:  # noqa: ANN001
        page = client.get("/login")
        token = _csrf(page.get_data(as_text=True))
        r = client.post("/login", data={"login": login, "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 302, r.get_data(as_text=True)


def _csrf(html: str) -> str:
    import re
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def csrf_of(client, url: str) -> str:  # noqa: ANN001
    return _csrf(client.get(url, follow_redirects=True).get_data(as_text=True))


@pytest.fixture
def world(rt) -> World:  # noqa: ANN001
    return World(rt)
