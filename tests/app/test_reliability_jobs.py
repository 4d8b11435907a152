"""Issue 17.3/17.4: durable jobs on Huey (SQLite in the data dir, Redis in production) and one indexer per index.

The job tests run against the SQLite queue of the test's data dir, and again against the real Redis on
127.0.0.1:6379 (database 15, 14, … one per test worker, flushed by the test; skipped when no Redis answers)."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, UTC

import pytest
from sqlalchemy import select

from dms import jobs
from dms.models import Job
from dms.runtime import Runtime
from dms.operations import setup

from .pdfs import make_pdf

# One database per pytest-xdist worker (15, 14, ...): two workers' tests -- and the `dms worker` processes they
# start, which take any message of the queue they listen to -- never share a queue nor flush each other's.
REDIS_URL = f"redis://127.0.0.1:6379/{15 - int(os.environ.get('PYTEST_XDIST_WORKER', 'gw0')[2:] or 0)}"


def _redis_up() -> bool:
    try:
        import redis
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(params=["sqlite", "redis"])
def jrt(request, settings):  # noqa: ANN001, ANN201
    """A runtime whose job queue is the SQLite file of the data dir, or Redis db 15 (flushed)."""
    if request.param == "redis":
        if not _redis_up():
            pytest.skip("no Redis on 127.0.0.1:6379")
        import redis
        redis.Redis.from_url(REDIS_URL).flushdb()
        settings = replace(settings, jobs_url=REDIS_URL)
    runtime = Runtime(settings)
    setup.initialise(runtime)
    yield runtime
    if request.param == "redis":
        import redis
        redis.Redis.from_url(REDIS_URL).flushdb()
    runtime.close()


@pytest.fixture
def japp(jrt):  # noqa: ANN001, ANN201
    from dms.app import create_app
    application = create_app(runtime=jrt)
    application.config.update(TESTING=True)
    return application


@pytest.fixture
def jworld(jrt):  # noqa: ANN001, ANN201
    from .conftest import World
    w = World(jrt)
    w.user("admin", "Administrator")
    w.user("clerk", "Clerk")
    w.folder("/Приказы")
    for i in range(3):
        w.document("clerk", "/Приказы", make_pdf(f"Приказ {i}"), doc_type="order", title=f"Приказ {i}")
    return w


def test_reindex_is_a_job_answered_202_with_a_progress_endpoint(jrt, japp, jworld):  # noqa: ANN001
    client = japp.test_client()
    admin, clerk = jworld.token(client, "admin"), jworld.token(client, "clerk")
    assert client.post("/api/v1/search/reindex", headers=clerk).status_code == 403
    r = client.post("/api/v1/search/reindex", headers=admin)
    assert r.status_code == 202
    job = r.get_json()["job"]
    assert job["status"] == "queued" and r.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert jobs.ping(jrt)["pending"] == 1  # the message is on the queue (the SQLite file or Redis)
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=clerk).status_code == 404  # not theirs
    assert jobs.run_pending(jrt) == 1
    done = client.get(f"/api/v1/jobs/{job['id']}", headers=admin).get_json()
    assert done["status"] == "done" and done["percent"] == 100 and done["result"]["documents"] == 3
    assert done["done"] == done["total"] == 3 and done["attempts"] == 1


def test_the_web_page_follows_a_job_until_it_ends(jrt, japp, jworld):  # noqa: ANN001
    from .conftest import csrf_of
    web = japp.test_client()
    jworld.login(web, "admin")
    r = web.post("/search/reindex", data={"csrf_token": csrf_of(web, "/")})
    assert r.status_code == 302 and "/jobs/" in r.headers["Location"]
    page = web.get(r.headers["Location"])
    assert page.status_code == 200 and page.headers["Refresh"] == "2" and "в очереди" in page.get_data(as_text=True)
    jobs.run_pending(jrt)
    page = web.get(r.headers["Location"])
    assert "Refresh" not in page.headers and "выполнено" in page.get_data(as_text=True)


def test_a_job_whose_worker_died_is_reported_then_resumed_by_the_next_worker(jrt, jworld):  # noqa: ANN001
    with jrt.db.session() as s:
        job_id = jobs.enqueue(s, "reindex", {})
    # A worker took it and was killed -9: the row says running, its heartbeat stopped two minutes ago.
    jobs.queue(jrt).dequeue()  # its message is gone with the dead worker
    dead = datetime.now(UTC) - timedelta(minutes=2)
    with jrt.db.session() as s:
        job = s.get(Job, job_id)
        job.status, job.worker, job.attempts, job.heartbeat_at, job.started_at = "running", "dead:1:1", 1, dead, dead
    with jrt.db.session() as s:
        from dms.operations.check import stuck_jobs
        assert [j["id"] for j in stuck_jobs(s)] == [job_id]
    assert jobs.recover(jrt)["requeued"] == [job_id]
    assert jobs.recover(jrt)["requeued"] == []  # a second worker's recovery finds nothing to take
    assert jobs.run_pending(jrt) == 1
    with jrt.db.session() as s:
        job = s.get(Job, job_id)
        assert job.status == "done" and job.attempts == 2 and job.result["documents"] == 3
        assert stuck_jobs(s) == []


def test_a_job_that_keeps_dying_is_given_up_after_max_attempts(jrt, jworld):  # noqa: ANN001
    with jrt.db.session() as s:
        job_id = jobs.enqueue(s, "reindex", {})
        job = s.get(Job, job_id)
        job.status, job.worker, job.attempts = "running", "dead:1:1", jobs.MAX_ATTEMPTS
        job.heartbeat_at = datetime.now(UTC) - timedelta(minutes=5)
    assert jobs.recover(jrt)["failed"] == [job_id]
    with jrt.db.session() as s:
        assert s.get(Job, job_id).status == "failed"


def test_a_failing_attempt_is_retried_then_recorded_as_failed(jrt, jworld, monkeypatch):  # noqa: ANN001
    calls = []

    def broken(rt, ctx):  # noqa: ANN001, ANN202
        calls.append(ctx.attempt)
        raise RuntimeError("диск отвалился")

    monkeypatch.setitem(jobs.HANDLERS, "reindex", broken)
    monkeypatch.setattr(jobs.core, "RETRY_DELAY_S", 0.01)
    with jrt.db.session() as s:
        job_id = jobs.enqueue(s, "reindex", {})
    for _ in range(jobs.MAX_ATTEMPTS):
        time.sleep(0.05)
        for task in jobs.queue(jrt).read_schedule(datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)):
            jobs.queue(jrt).enqueue(task)
        jobs.run_pending(jrt)
    with jrt.db.session() as s:
        job = s.get(Job, job_id)
        assert job.status == "failed" and "диск отвалился" in job.error
    assert calls == [1, 2, 3]


def test_cancel_ends_a_queued_job_at_once_and_a_running_one_at_its_next_step(jrt, jworld, monkeypatch):  # noqa: ANN001
    with jrt.db.session() as s:
        queued = jobs.enqueue(s, "reindex", {})
    with jrt.db.session() as s:
        assert jobs.cancel(s, queued)["status"] == "cancelled"
    steps = []

    def long(rt, ctx):  # noqa: ANN001, ANN202
        for i in range(100):
            if i == 3:
                with rt.db.session() as s:
                    jobs.cancel(s, ctx.id)  # asked from the web meanwhile
            ctx.progress(i, 100, force=True)
            steps.append(i)
        return {}

    monkeypatch.setitem(jobs.HANDLERS, "reindex", long)
    with jrt.db.session() as s:
        running = jobs.enqueue(s, "reindex", {})
    jobs.run_pending(jrt)  # the cancelled one's message is a no-op
    with jrt.db.session() as s:
        assert s.get(Job, running).status == "cancelled" and s.get(Job, queued).status == "cancelled"
    assert steps == [0, 1, 2]


def test_a_rolled_back_request_leaves_no_job_and_sends_nothing(jrt, jworld):  # noqa: ANN001
    with pytest.raises(RuntimeError), jrt.db.session() as s:
        jobs.enqueue(s, "reindex", {})
        raise RuntimeError("the request failed")
    with jrt.db.session() as s:
        assert s.scalars(select(Job)).all() == []
    assert jobs.ping(jrt)["pending"] == 0


def test_a_job_is_sent_to_the_queue_only_once_its_transaction_commits(jrt, jworld):  # noqa: ANN001
    """dms.jobs.enqueue registers its send with dms.uow.after_commit: nothing on the queue before the commit (a
    worker would find no row), the message right after it, and a rollback of the same kind sends nothing."""
    with jrt.db.session() as s:
        job_id = jobs.enqueue(s, "reindex", {})
        s.flush()
        assert jobs.ping(jrt)["pending"] == 0  # written, not committed: not sent
    assert jobs.ping(jrt)["pending"] == 1
    assert jobs.run_pending(jrt) == 1
    with jrt.db.session() as s:
        assert s.get(Job, job_id).status == "done"
    with jrt.db.session() as s:
        jobs.enqueue(s, "reindex", {})
        s.rollback()  # the request gave up: the job's row and its message are gone together
    with jrt.db.session() as s:
        assert s.scalars(select(Job).where(Job.id != job_id)).all() == []
    assert jobs.ping(jrt)["pending"] == 0


def test_the_embedded_worker_thread_runs_jobs(jrt, jworld):  # noqa: ANN001
    thread, stop = jobs.start_thread(jrt, idle_sleep=0.05)
    try:
        with jrt.db.session() as s:
            job_id = jobs.enqueue(s, "reindex", {})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with jrt.db.session() as s:
                if s.get(Job, job_id).status == "done":
                    break
            time.sleep(0.1)
        with jrt.db.session() as s:
            assert s.get(Job, job_id).status == "done"
    finally:
        stop.set()
        thread.join(10)


def test_the_sqlite_queue_file_is_private(rt):  # noqa: ANN001
    jobs.ping(rt)
    path = rt.settings.data_dir / "jobs.sqlite3"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_disposition_execution_is_a_job_from_the_web_and_the_api(rt, world, client):  # noqa: ANN001
    """Refusals come at once (403/409); an executable list answers 202 with a job that destroys what is due."""
    from dms.models import DispositionBatch, DispositionItem
    world.user("admin", "Administrator")
    world.folder("/Дела")
    doc = world.document("admin", "/Дела", make_pdf("Старое"), title="Старое")
    with rt.db.session() as s:
        batch = DispositionBatch(status="proposed", proposed_by_id=None, as_of=datetime.now(UTC).date())
        s.add(batch)
        s.flush()
        s.add(DispositionItem(batch_id=batch.id, document_id=doc.id, doc_type="other", title="Старое",
                              due_date=datetime.now(UTC).date(), rule="test"))
        bid = batch.id
    headers = world.token(client, "admin")
    assert client.post(f"/api/v1/records/disposition/{bid}/execute", headers=headers).status_code == 409
    with rt.db.session() as s:
        s.get(DispositionBatch, bid).status = "approved"
    r = client.post(f"/api/v1/records/disposition/{bid}/execute", headers=headers)
    assert r.status_code == 202, r.get_json()
    job_id = r.get_json()["job"]["id"]
    jobs.run_pending(rt)
    job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).get_json()
    assert job["status"] == "done", job
    with rt.db.session() as s:
        assert s.get(DispositionBatch, bid).status == "executed"


# --- one indexer (17.4) --------------------------------------------------------------------------------------


def _env(settings) -> dict:  # noqa: ANN001
    return dict(os.environ, DMS_DATA_DIR=str(settings.data_dir), DMS_DATABASE_URL=settings.database_url,
                DMS_STORAGE_URL=settings.storage_url, DMS_INDEX_DIR=str(settings.index_dir),
                DMS_SECRET_KEY=settings.secret_key, PYTHONUNBUFFERED="1")


def _wait_for(proc: subprocess.Popen, text: str, timeout: float = 60) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.stderr.fileno(), False)
    while time.monotonic() < deadline:
        chunk = proc.stderr.read()
        if chunk:
            seen += chunk.decode("utf-8", "replace")
            if text in seen:
                return seen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {seen!r}")


def test_a_second_indexer_waits_as_a_standby_and_takes_over_when_the_first_dies(rt, settings):  # noqa: ANN001
    cmd = [sys.executable, "-m", "dms", "indexer"]
    first = subprocess.Popen(cmd, env=_env(settings), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    second = None
    try:
        _wait_for(first, "индексатор запущен")
        second = subprocess.Popen(cmd, env=_env(settings), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        told = _wait_for(second, "ждёт в резерве")
        assert str(first.pid) in told  # names the one that holds the lock
        assert "индексатор запущен" not in told
        first.kill()  # kill -9: the kernel drops its lock
        first.wait(10)
        _wait_for(second, "индексатор запущен", timeout=30)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)


# --- dms init against a store that does not answer ------------------------------------------------------------


def test_dms_init_against_an_s3_bucket_that_does_not_exist_fails_with_one_clear_line(settings):  # noqa: ANN001
    from click.testing import CliRunner

    from dms.cli import main as dms_main
    from tests.s3server import start_s3_test_server
    server = start_s3_test_server()
    try:
        url = server.create_bucket()
        missing = url.replace(url.split("?")[0].rsplit("/", 1)[1], "no-such-bucket-17", 1)
        env = {**_env(settings), "DMS_STORAGE_URL": missing}
        r = CliRunner().invoke(dms_main, ["init"], env=env)
    finally:
        server.stop()
    assert r.exit_code != 0 and r.exception is None or isinstance(r.exception, SystemExit), r.output
    assert "хранилище объектов недоступно" in r.output and "NoSuchBucket" in r.output
    assert "Traceback" not in r.output


def test_dms_worker_resumes_a_dead_workers_job_and_runs_new_ones(jrt, jworld):  # noqa: ANN001
    """The real `dms worker` process: at start it puts back the job a killed worker held, then runs it and a new
    one from the queue (SQLite file or Redis)."""
    with jrt.db.session() as s:
        orphan = jobs.enqueue(s, "reindex", {})
    jobs.queue(jrt).dequeue()  # the killed worker had taken its message
    with jrt.db.session() as s:
        job = s.get(Job, orphan)
        job.status, job.worker, job.attempts = "running", "killed:1:1", 1
        job.heartbeat_at = datetime.now(UTC) - timedelta(minutes=3)
    env = {**_env(jrt.settings), "DMS_JOBS_URL": jrt.settings.jobs_url}
    worker = subprocess.Popen([sys.executable, "-m", "dms", "worker", "--threads", "1"], env=env,
                              stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        with jrt.db.session() as s:
            fresh = jobs.enqueue(s, "reindex", {})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with jrt.db.session() as s:
                states = {s.get(Job, j).status for j in (orphan, fresh)}
            if states == {"done"}:
                break
            time.sleep(0.2)
        assert states == {"done"}, states
        with jrt.db.session() as s:
            assert s.get(Job, orphan).attempts == 2
    finally:
        worker.terminate()
        worker.wait(20)
