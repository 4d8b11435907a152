"""A certificate batch whose process is killed (kill -9) loses nothing (issue 17.3): `dms check` reports it, its
signing workers die with it, and `dms certificates resume|cancel` finishes it or gives its numbers and blanks back.
The same exam results are issued once (issue 17.3); batch-issued PDFs get the store's retention (signed objects)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dms.errors import Conflict
from dms.models import Blank, Certificate, IssueBatch, Organisation, Version
from dms.certificates import service as certs
from dms.people import users
from dms.operations.check import stuck_jobs
from signing.batch import _alive
from storage.errors import ObjectProtected

from .test_certificates import rows
from .test_signing import PIN, ca_template, pki  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[2]
ROWS = 160

CHILD = """
import sys, json
from pathlib import Path
from dms.config import Settings
from dms.runtime import Runtime
from dms.certificates import service as certs
sys.path.insert(0, {root!r})
from tests.app.test_certificates import rows
cfg = json.loads(sys.argv[1])
rt = Runtime(Settings(data_dir=Path(cfg["data_dir"]), database_url=cfg["database_url"], storage_url=cfg["storage_url"],
                      index_dir=Path(cfg["index_dir"]), secret_key="test-secret-key"))
certs.issue(rt, "head", "ЦОК-77-001", rows({n}), {pin!r})
"""


@pytest.fixture
def big_centre(world, rt, pki):  # noqa: ANN001, ANN201, F811
    world.user("head", "Signatory")
    with rt.db.session() as s:
        org = Organisation(code="ЦОК-77-001", name="ООО «Центр оценки квалификаций „Меридиан“»", short_name="Меридиан",
                           kind="assessment_centre", city="Москва")
        s.add(org)
        s.flush()
        certs.allocate_blanks(s, None, org, "АА", 1, ROWS + 20)
        from dms.signatures import pki as pki_svc
        pki_svc.issue(rt, s, None, users.get_user(s, "head"), PIN)
    return "ЦОК-77-001"


def _env(rt) -> dict:  # noqa: ANN001
    st = rt.settings
    return {**os.environ, "DMS_DATA_DIR": str(st.data_dir), "DMS_DATABASE_URL": st.database_url,
            "DMS_STORAGE_URL": st.storage_url, "DMS_INDEX_DIR": str(st.index_dir), "DMS_SECRET_KEY": "test-secret-key",
            "PYTHONPATH": str(ROOT)}


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), [pid]
    while frontier:
        p = frontier.pop()
        for child, parent in parents.items():
            if parent == p and child not in found:
                found.add(child)
                frontier.append(child)
    return found


def _kill_while_signing(rt) -> tuple[int, set[int]]:  # noqa: ANN001
    """Start a batch in another process, SIGKILL it once its signing workers run; (batch id, its workers)."""
    st = rt.settings
    cfg = json.dumps({"data_dir": str(st.data_dir), "database_url": st.database_url, "storage_url": st.storage_url,
                      "index_dir": str(st.index_dir)})
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(root=str(ROOT), n=ROWS, pin=PIN), cfg],
                            env=_env(rt), cwd=ROOT)
    deadline = time.monotonic() + 240
    workers: set[int] = set()
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the batch ended before it could be killed"
        with rt.db.session() as s:
            stage, done = s.execute(select(IssueBatch.stage, IssueBatch.done).order_by(IssueBatch.id.desc())
                                    ).first() or (None, 0)
        workers = _descendants(proc.pid)
        if stage == "signing" and len(workers) >= 3:  # the fork server and its two workers (and the tracker)
            time.sleep(0.5)
            workers = _descendants(proc.pid)
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the batch never reached signing")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with rt.db.session() as s:
        batch = s.scalars(select(IssueBatch).order_by(IssueBatch.id.desc())).first()
        assert batch is not None and batch.stage == "signing" and batch.reservation
        return batch.id, workers


def _dms(rt, *args: str, pin: str | None = None) -> subprocess.CompletedProcess:  # noqa: ANN001
    env = _env(rt)
    if pin:
        env["DMS_PIN"] = pin
    return subprocess.run([sys.executable, "-m", "dms", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def _assert_workers_die(workers: set[int]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    assert not [p for p in workers if _alive(p)], "signing workers outlived the killed batch"


def _blank_states(rt) -> dict[str, int]:  # noqa: ANN001
    with rt.db.session() as s:
        return dict(s.execute(select(Blank.status, func.count()).group_by(Blank.status)).all())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_batch_is_reported_then_cancel_gives_back_numbers_and_blanks(rt, big_centre):  # noqa: ANN001
    batch_id, workers = _kill_while_signing(rt)
    _assert_workers_die(workers)
    assert _blank_states(rt).get("reserved") == ROWS
    with rt.db.session() as s:
        assert [j["batch"] for j in stuck_jobs(s) if "batch" in j] == [batch_id]
    listed = _dms(rt, "certificates", "batches", "--stuck")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout.splitlines()[0])["id"] == batch_id
    done = _dms(rt, "certificates", "cancel", str(batch_id), "--as", "head")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stage"] == "cancelled"
    assert _blank_states(rt) == {"free": ROWS + 20}
    with rt.db.session() as s:
        assert stuck_jobs(s) == []  # the tail went back to the series: no hole
    again = certs.issue(rt, "head", big_centre, rows(1), PIN)
    assert again.issued[0]["number"].endswith("-00001")  # gapless: the cancelled numbers were given back


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_batch_resumes_from_the_cli_with_its_reserved_numbers(rt, big_centre):  # noqa: ANN001
    batch_id, workers = _kill_while_signing(rt)
    _assert_workers_die(workers)
    with rt.db.session() as s:
        reserved = json.loads(s.get_one(IssueBatch, batch_id).reservation or "{}")["items"]
    refused = _dms(rt, "certificates", "resume", str(batch_id), "--as", "head", pin="wrong-pin-000")
    assert refused.returncode != 0
    resumed = _dms(rt, "certificates", "resume", str(batch_id), "--as", "head", pin=PIN)
    assert resumed.returncode == 0, resumed.stderr
    issued = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert [i["number"] for i in issued] == [r["number"] for r in reserved]
    assert [i["blank"] for i in issued] == [r["blank"] for r in reserved]
    assert _blank_states(rt) == {"used": ROWS, "free": 20}
    with rt.db.session() as s:
        assert s.get_one(IssueBatch, batch_id).stage == "done"
        assert stuck_jobs(s) == []


def test_the_same_exam_results_are_issued_once_and_the_refusal_names_them(rt, big_centre):  # noqa: ANN001
    first = certs.issue(rt, "head", big_centre, rows(3), PIN)
    with pytest.raises(Conflict) as refused:
        certs.issue(rt, "head", big_centre, rows(4), PIN)
    assert first.issued[0]["number"] in str(refused.value)  # the refusal names the certificate already issued
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Certificate)) == 3
        assert dict(s.execute(select(Blank.status, func.count()).group_by(Blank.status)).all())["used"] == 3


def test_batch_issued_certificates_get_the_store_retention_of_signed_objects(rt, big_centre):  # noqa: ANN001
    result = certs.issue(rt, "head", big_centre, rows(2), PIN)
    with rt.db.session() as s:
        keys = [s.scalars(select(Version.object_key).join(Certificate, Certificate.document_id == Version.document_id)
                          .where(Certificate.number == i["number"])).one() for i in result.issued]
    for key in keys:  # like every other signed object: the store refuses to delete it while retained
        with pytest.raises(ObjectProtected):
            rt.store.delete(key)
        assert rt.store.get_bytes(key)


def _stuck_batch(rt, centre_code: str, n: int) -> int:  # noqa: ANN001
    """A batch as a killed process leaves it: reserved numbers and blanks, its owner a dead pid on this host."""
    import socket

    from dms.workflow import service as wf_svc
    with rt.db.session() as s:
        centre = certs.centre_by_code(s, centre_code)
        head = users.get_user(s, "head")
        first_seq, numbers = wf_svc.reserve_numbers(s, "certificate", centre, n)
        free = s.scalars(select(Blank).where(Blank.status == "free").order_by(Blank.number).limit(n)).all()
        for b in free:
            b.status = "reserved"
        prepared = [certs.Prepared(r, num, b.number, f"token-{i:020d}", None)
                    for i, (r, num, b) in enumerate(zip(rows(n), numbers, free, strict=True))]
        batch = IssueBatch(centre_id=centre.id, total=n, created_by_id=head.id, signed_by_id=head.id, stage="signing",
                           rows_json=certs._rows_to_json(rows(n)),
                           reservation=certs._reservation_json(first_seq, prepared),
                           owner=f"{socket.gethostname()}:{2 ** 22 + 12345}")
        s.add(batch)
        s.flush()
        return batch.id


def test_a_stuck_batch_is_cancelled_or_resumed_from_its_web_page(rt, big_centre, client, world):  # noqa: ANN001
    from .conftest import csrf_of
    gone = _stuck_batch(rt, big_centre, 3)
    world.login(client, "head")
    page = client.get(f"/certificates/batches/{gone}").get_data(as_text=True)
    assert f"/certificates/batches/{gone}/cancel" in page and f"/certificates/batches/{gone}/resume" in page
    token = csrf_of(client, f"/certificates/batches/{gone}")
    assert client.post(f"/certificates/batches/{gone}/cancel", data={"csrf_token": token}).status_code == 302
    assert _blank_states(rt) == {"free": ROWS + 20}
    with rt.db.session() as s:
        assert s.get_one(IssueBatch, gone).stage == "cancelled"
    again = _stuck_batch(rt, big_centre, 2)
    token = csrf_of(client, f"/certificates/batches/{again}")
    assert client.post(f"/certificates/batches/{again}/resume", data={"csrf_token": token, "pin": PIN}
                       ).status_code == 302
    with rt.db.session() as s:
        assert s.get_one(IssueBatch, again).stage == "done"
        assert s.scalar(select(func.count()).select_from(Certificate).where(Certificate.batch_id == again)) == 2


# --- a batch started from the web is a job (issue 17.3) ------------------------------------------------------------


def _post_batch(client, centre: str, n: int, start: int = 0):  # noqa: ANN001, ANN202
    import io

    from .conftest import csrf_of
    data = "ФИО;Квалификация;Уровень;Дата экзамена;Номер протокола;СНИЛС\n" + "".join(
        f"{r.full_name};{r.qualification};{r.level};{r.exam_date.strftime('%d.%m.%Y')};{r.protocol};{r.snils}\n"
        for r in rows(n, start=start))
    return client.post("/certificates/issue", content_type="multipart/form-data", data={
        "csrf_token": csrf_of(client, "/certificates/issue"), "centre": centre, "pin": PIN, "confirm": "1",
        "file": (io.BytesIO(data.encode()), "protokol.csv")})


def test_a_web_batch_runs_as_a_job_and_waits_for_no_web_process(rt, big_centre, client, world):  # noqa: ANN001
    from dms import jobs
    from dms.models import Job
    world.login(client, "head")
    refused = _post_batch(client, big_centre, 3)  # no worker listening: the PIN has nowhere to go, nothing starts
    assert refused.status_code == 409 and "dms worker" in refused.get_data(as_text=True)
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(IssueBatch)) == 0
    jobs.announce(rt)  # a worker listens (here: this process, which then runs the queue)
    r = _post_batch(client, big_centre, 3)
    assert r.status_code == 302, r.get_data(as_text=True)
    batch_id = int(r.headers["Location"].rsplit("/", 1)[1])
    assert client.get(f"/certificates/batches/{batch_id}.json").get_json()["stage"] == "queued"
    with rt.db.session() as s:
        job = s.scalars(select(Job).where(Job.kind == "certificates.issue")).one()
        assert job.params == {"batch_id": batch_id, "owner": job.params["owner"], "prepared": False}
        assert PIN not in repr(job.params) and PIN not in repr(job.checkpoint)  # the PIN is never in the row
    # the worker issues it (the web process did nothing more), then the job its batch queued: their B-LTA versions
    assert jobs.run_pending(rt) == 2
    state = client.get(f"/certificates/batches/{batch_id}.json").get_json()
    assert state["stage"] == "done" and state["done"] == state["total"] == 3, state
    with rt.db.session() as s:
        assert s.get_one(Job, job.id).status == "done"
        assert s.scalar(select(func.count()).select_from(Certificate).where(Certificate.batch_id == batch_id)) == 3
    page = client.get(f"/certificates/batches/{batch_id}").get_data(as_text=True)
    assert rows(1)[0].full_name in page


def test_a_web_batch_whose_worker_died_waits_for_the_pin_and_resumes_from_its_page(rt, big_centre, client,  # noqa: ANN001
                                                                                   world):
    from datetime import UTC, datetime, timedelta

    from dms import jobs
    from dms.models import Job

    from .conftest import csrf_of
    world.login(client, "head")
    jobs.announce(rt)
    r = _post_batch(client, big_centre, 2)
    batch_id = int(r.headers["Location"].rsplit("/", 1)[1])
    jobs.queue(rt).dequeue()  # a worker took the message (and its sealed PIN) and was killed -9
    dead = datetime.now(UTC) - timedelta(minutes=5)
    with rt.db.session() as s:
        job = s.scalars(select(Job).where(Job.kind == "certificates.issue")).one()
        job.status, job.worker, job.attempts, job.heartbeat_at = "running", "dead:1:1", 1, dead
    assert jobs.recover(rt)["requeued"] == [job.id]
    assert jobs.run_pending(rt) == 1  # the retry has no PIN: the batch waits for a signatory, nothing is issued
    with rt.db.session() as s:
        assert s.get_one(Job, job.id).status == "failed"
        batch = s.get_one(IssueBatch, batch_id)
        assert certs.is_stuck(batch) and batch.stage == "queued"
        assert [j["batch"] for j in stuck_jobs(s) if "batch" in j] == [batch_id]
    page = client.get(f"/certificates/batches/{batch_id}").get_data(as_text=True)
    assert f"/certificates/batches/{batch_id}/resume" in page
    token = csrf_of(client, f"/certificates/batches/{batch_id}")
    assert client.post(f"/certificates/batches/{batch_id}/resume", data={"csrf_token": token, "pin": PIN}
                       ).status_code == 302
    with rt.db.session() as s:
        assert s.get_one(IssueBatch, batch_id).stage == "done"
        assert s.scalar(select(func.count()).select_from(Certificate).where(Certificate.batch_id == batch_id)) == 2


def test_a_sealed_pin_opens_only_in_the_worker_it_was_sealed_to(rt):  # noqa: ANN001
    from dms.jobs import core
    core._process_key = None
    jobs_key = core.announce(rt)
    sealed = core._seal(rt, "job-1", "12345678")
    assert set(sealed) == {jobs_key} and "12345678" not in repr(sealed)
    assert core._open("job-1", sealed) == "12345678"
    assert core._open("job-2", sealed) is None  # bound to its job
    core._process_key = None  # the worker process is gone: its key with it
    assert core._open("job-1", sealed) is None


def test_a_hole_left_by_a_cancelled_batch_is_reported_until_a_signatory_acknowledges_it(rt, big_centre, client,  # noqa: ANN001
                                                                                       world):
    from dms.models import AuditEvent

    from .conftest import csrf_of
    gone = _stuck_batch(rt, big_centre, 2)
    certs.issue(rt, "head", big_centre, rows(1, start=50), PIN)  # a later number is issued: the two cannot go back
    certs.cancel_batch(rt, "head", gone)
    with rt.db.session() as s:
        [hole] = [j for j in stuck_jobs(s) if j.get("batch") == gone]
        assert "ПРОПУСК НОМЕРОВ" in hole["line"] and "dms worker" not in hole["line"]
        assert len(hole["numbers"]) == 2
    world.login(client, "head")
    url = f"/certificates/batches/{gone}"
    assert f"{url}/acknowledge" in client.get(url).get_data(as_text=True)
    assert client.post(f"{url}/acknowledge", data={"csrf_token": csrf_of(client, url)}).status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert f"{url}/acknowledge" not in page and "head" in page
    with rt.db.session() as s:
        assert [j for j in stuck_jobs(s) if j.get("batch") == gone] == []
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "certificates.hole_acknowledged")).one()
        assert event.details["numbers"] == hole["numbers"]
        [acked] = certs.cancelled_holes(s, acknowledged=True)
        assert acked["acknowledged"]["by"] == "head"
    again = client.post(f"{url}/acknowledge", data={"csrf_token": csrf_of(client, url)}, follow_redirects=True)
    assert "уже подтверждён" in again.get_data(as_text=True)


def _api_batch(client, headers: dict, centre: str, n: int, pin: str = PIN, key: str = ""):  # noqa: ANN001, ANN202
    import io
    data = "ФИО;Квалификация;Уровень;Дата экзамена;Номер протокола;СНИЛС\n" + "".join(
        f"{r.full_name};{r.qualification};{r.level};{r.exam_date.strftime('%d.%m.%Y')};{r.protocol};{r.snils}\n"
        for r in rows(n))
    return client.post("/api/v1/certificates/batches", content_type="multipart/form-data",
                       headers={**headers, **({"Idempotency-Key": key} if key else {})},
                       data={"centre": centre, "pin": pin, "file": (io.BytesIO(data.encode()), "protokol.csv")})


def test_an_api_batch_is_a_job_202_with_its_progress_url_and_409_with_no_worker(rt, big_centre, client,  # noqa: ANN001
                                                                                  world):
    from dms import jobs
    from dms.api.openapi import openapi_document
    from dms.models import Job
    from tests.fuzz.conformance import problems
    spec, h = openapi_document(), world.token(client, "head")
    refused = _api_batch(client, h, big_centre, 3)  # no worker listening: the PIN has nowhere to go, nothing starts
    assert refused.status_code == 409 and "dms worker" in refused.get_json()["error"]["message"]
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(IssueBatch)) == 0
        assert s.scalar(select(func.count()).select_from(Job)) == 0
    jobs.announce(rt)
    r = _api_batch(client, h, big_centre, 3, key="exam-2026-03")
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert not problems(spec, "POST", "/certificates/batches", 202, body)
    assert body["stage"] == "queued" and body["total"] == 3 and body["job"]["status"] == "queued"
    assert r.headers["Location"] == f"/api/v1/jobs/{body['job']['id']}"
    with rt.db.session() as s:
        job = s.get_one(Job, body["job"]["id"])
        assert job.kind == "certificates.issue" and job.params["batch_id"] == body["batch"]
        assert PIN not in repr(job.params) and PIN not in repr(job.checkpoint)  # the PIN is never in the row
        assert s.scalar(select(func.count()).select_from(Certificate)) == 0  # the request issued nothing itself
    again = _api_batch(client, h, big_centre, 3, key="exam-2026-03")  # a lost answer retried: the same job
    assert again.status_code == 202 and again.get_json() == body and again.headers["Idempotent-Replayed"] == "true"
    assert jobs.run_pending(rt) == 2  # the batch, then the B-LTA protection of its certificates
    done = client.get(r.headers["Location"], headers=h).get_json()
    assert done["status"] == "done" and done["result"]["issued"] == 3, done
    batch = client.get(body["url"], headers=h)
    assert not problems(spec, "GET", "/certificates/batches/{batch_id}", 200, batch.get_json())
    assert batch.get_json()["stage"] == "done" and [c["holder"] for c in batch.get_json()["issued"]] \
        == [x.full_name for x in rows(3)]
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Certificate).where(Certificate.batch_id == body["batch"])) == 3
    world.user("stranger", "Signatory")  # another signatory does not see the batch
    assert client.get(body["url"], headers=world.token(client, "stranger")).status_code == 404
    twice = _api_batch(client, h, big_centre, 3)  # the same results again: refused at once, naming what was issued
    assert twice.status_code == 409, twice.get_json()


def test_an_api_batch_with_a_wrong_pin_fails_its_job_and_issues_nothing(rt, big_centre, client, world):  # noqa: ANN001
    from dms import jobs
    h = world.token(client, "head")
    jobs.announce(rt)
    r = _api_batch(client, h, big_centre, 2, pin="00000000")
    assert r.status_code == 202, r.get_json()
    jobs.run_pending(rt)
    job = client.get(r.headers["Location"], headers=h).get_json()
    assert job["status"] == "failed" and job["error"], job
    batch = client.get(r.get_json()["url"], headers=h).get_json()
    assert batch["stage"] == "failed" and batch["issued"] == [] and batch["error"], batch
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Certificate)) == 0
        assert s.scalar(select(func.count()).select_from(Blank).where(Blank.status != "free")) == 0
