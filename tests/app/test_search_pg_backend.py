"""DMS_SEARCH_BACKEND=postgres: the archive's search runs on search.pg's tables in the application's PostgreSQL
database (outbox -> indexer -> tables; the permission filter; reindex; drift; the soak test of test_search.py: two web
processes and the indexer process under concurrent uploads). Needs the app tests on PostgreSQL
(DMS_TEST_DATABASE_URL=postgresql://...); on SQLite the backend is refused, which is checked too."""
from __future__ import annotations

from dataclasses import replace

import pytest

from dms.config import Settings
from dms.fulltext import indexing
from dms.runtime import Runtime
from search.pg import PgSearchIndex

from .test_search import _find, archive  # noqa: F401 - the archive fixture, on this module's settings
from .test_search import test_two_web_processes_and_the_indexer_under_concurrent_uploads  # noqa: F401 - the soak


@pytest.fixture
def settings(settings):  # noqa: ANN001, ANN201, F811 - the same settings with the PostgreSQL search backend
    if settings.database_url.startswith("sqlite"):
        pytest.skip("the PostgreSQL search backend needs the app tests on PostgreSQL (DMS_TEST_DATABASE_URL)")
    return replace(settings, search_backend="postgres")


@pytest.fixture(autouse=True)
def postgres_backend(request, monkeypatch):  # noqa: ANN001, ANN201
    """The backend for the processes a test starts too (the soak test imported above runs on it here)."""
    monkeypatch.setenv("DMS_SEARCH_BACKEND", "postgres")
    rt = request.getfixturevalue("rt") if "rt" in request.fixturenames else None
    yield
    if rt is not None:  # the test database is truncated per test, not the index's tables
        PgSearchIndex(rt.db.engine).drop()


def test_the_postgres_backend_finds_forms_keeps_the_filter_and_reindexes(rt, archive):  # noqa: ANN001, F811
    assert isinstance(indexing.open_index(rt), PgSearchIndex)
    assert not (rt.settings.index_dir / "current").exists()  # no Whoosh index was made
    hits = _find(rt, "auditor", "держатель практики")
    assert [int(i["id"]) for i in hits["items"]] == [archive["agreement"]]
    assert "<mark" in hits["items"][0]["highlight"]
    assert _find(rt, "auditor", "свидетельства")["total"] == 1
    outsider = _find(rt, "outsider", "свидетельство")
    assert (outsider["total"], outsider["items"]) == (0, [])
    assert indexing.drift(rt)["drift"] is False
    assert indexing.reindex(rt) == 2
    assert [int(i["id"]) for i in _find(rt, "auditor", "держателем")["items"]] == [archive["agreement"]]


def test_the_backend_is_chosen_by_configuration(tmp_path):  # noqa: ANN001
    env = {"DMS_DATA_DIR": str(tmp_path), "DMS_SECRET_KEY": "x"}
    assert Settings.from_env(env).search_backend == "whoosh"
    assert Settings.from_env({**env, "DMS_SEARCH_BACKEND": "Postgres"}).search_backend == "postgres"
    with pytest.raises(ValueError, match="DMS_SEARCH_BACKEND"):
        Settings.from_env({**env, "DMS_SEARCH_BACKEND": "elastic"})


def test_the_postgres_backend_is_refused_on_sqlite(tmp_path):  # noqa: ANN001
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'dms.sqlite3'}",
                        storage_url=(tmp_path / "objects").as_uri(), index_dir=tmp_path / "index",
                        secret_key="k", search_backend="postgres")
    rt = Runtime(settings)
    try:
        with pytest.raises(RuntimeError, match="PostgreSQL"):
            indexing.open_index(rt)
    finally:
        rt.close()
