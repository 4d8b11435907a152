"""The production set-up is checked by parsing it (no Docker engine on the development machines)."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# What dms.config.Settings reads: the app cannot start without the first four in production.
REQUIRED_APP_ENV = {"DMS_DATABASE_URL", "DMS_STORAGE_URL", "DMS_INDEX_DIR", "DMS_SECRET_KEY", "DMS_DATA_DIR"}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_app_indexer_database_and_object_store():
    services = compose()["services"]
    assert {"app", "indexer", "db", "minio", "minio-init", "migrate"} <= set(services)
    assert "gunicorn" in services["app"]["command"] and "--workers" in services["app"]["command"]
    command = services["app"]["command"]
    # Threads, not sync workers: two requests stuck in a slow store must not take the site (issue 17.2).
    assert command[command.index("--worker-class") + 1] == "gthread" and "--threads" in command
    assert services["indexer"]["command"] == ["dms", "indexer"]
    assert services["migrate"]["command"] == ["dms", "init"]


def test_every_app_process_gets_the_variables_the_settings_need():
    services = compose()["services"]
    for name in ("app", "indexer", "migrate", "worker"):
        env = services[name]["environment"]
        assert set(env) >= REQUIRED_APP_ENV, name
        assert env["DMS_DATABASE_URL"].startswith("postgresql://") and "@db:5432/" in env["DMS_DATABASE_URL"]
        assert env["DMS_STORAGE_URL"].startswith("s3://") and "@minio:9000/" in env["DMS_STORAGE_URL"]


def test_settings_read_exactly_the_variables_compose_sets():
    """Compose sets only variables the product reads (in its settings, or where a secret is read on use, like
    DMS_BACKUP_KEY in dms/operations/archive.py), and the settings the app needs."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "dms").rglob("*.py"))
    read = set(re.findall(r'"(DMS_[A-Z_]+)"', source))
    env = compose()["services"]["app"]["environment"]
    assert read >= REQUIRED_APP_ENV
    assert set(env) <= read, set(env) - read


def test_only_the_indexer_writes_the_index_volume():
    services = compose()["services"]
    assert "index:/index:ro" in services["app"]["volumes"]
    assert "index:/index" in services["indexer"]["volumes"]
    writers = [n for n, s in services.items() if any(v == "index:/index" for v in s.get("volumes", []))]
    assert sorted(writers) == ["indexer", "migrate", "worker"]  # the worker: reindex jobs (a side generation)


def test_volumes_ports_and_health_checks():
    c = compose()
    services = c["services"]
    assert {"pgdata", "objects", "appdata", "index"} <= set(c["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert "objects:/data" in services["minio"]["volumes"]
    assert any(p.endswith(":8000") for p in services["app"]["ports"])
    for name in ("db", "minio", "app"):
        assert "test" in services[name]["healthcheck"], name
    assert "/healthz" in " ".join(services["app"]["healthcheck"]["test"])
    assert services["app"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "--with-lock" in services["minio-init"]["entrypoint"]


def test_secrets_come_from_the_env_file_not_the_repo():
    text = (ROOT / "docker-compose.yml").read_text()
    for var in ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "DMS_SECRET_KEY"):
        assert f"${{{var}:?" in text, var
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    example = (ROOT / ".env.example").read_text()
    for var in ("POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "DMS_SECRET_KEY"):
        assert re.search(rf"^{var}=", example, re.M), var


def test_dockerfile_installs_fonts_and_runs_as_a_user():
    text = (ROOT / "Dockerfile").read_text()
    assert "fonts-dejavu-core" in text and "poppler-utils" in text
    assert re.search(r"^USER \w+", text, re.M)
    for package in ("dms", "storage", "signing", "search", "templates"):
        assert f"COPY {package} ./{package}" in text


def test_redis_and_a_job_worker_run_the_durable_jobs():
    c = compose()
    services = c["services"]
    assert services["worker"]["command"] == ["dms", "worker"]
    assert "--appendonly" in services["redis"]["command"] and "redisdata:/data" in services["redis"]["volumes"]
    assert "redisdata" in c["volumes"] and "test" in services["redis"]["healthcheck"]
    for name in ("app", "worker"):
        assert services[name]["environment"]["DMS_JOBS_URL"] == "redis://redis:6379/0", name
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name
    from dms.config import Settings
    settings = Settings.from_env({"DMS_JOBS_URL": "redis://redis:6379/0", "DMS_SECRET_KEY": "x",
                                  "DMS_DATA_DIR": "/tmp/pechat-compose-check"})
    assert settings.jobs_url == "redis://redis:6379/0"
