"""The `dms` command line: init is idempotent, users, ingest with JSON lines, get, refusals."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

from .pdfs import make_pdf


def dms(settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess:  # noqa: ANN001
    env = {**os.environ, "DMS_DATA_DIR": str(settings.data_dir), "DMS_DATABASE_URL": settings.database_url,
           "DMS_STORAGE_URL": settings.storage_url, "DMS_SECRET_KEY": "x"}
    return subprocess.run([sys.executable, "-m", "dms", *args], input=stdin, env=env, capture_output=True,
                          text=True, timeout=120)


def test_init_is_idempotent(settings, rt):  # noqa: ANN001
    first, second = dms(settings, "init"), dms(settings, "init")
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    from dms.migrate import head
    assert f"ревизия схемы {head()}" in second.stdout


def test_ingest_prints_one_json_line_per_file_and_get_returns_the_bytes(settings, rt, world, tmp_path):  # noqa: ANN001
    assert dms(settings, "user", "add", "clerk", "--role", "Clerk", "--password-stdin",
               stdin="long-enough-pass\n").returncode == 0
    world.folder("/Входящие")
    files = []
    for i in range(3):
        p = tmp_path / f"заявление_{i}.pdf"
        p.write_bytes(make_pdf(f"Заявление {i}"))
        files.append(p)
    r = dms(settings, "ingest", *map(str, files), "--folder", "/Входящие", "--type", "application", "--as", "clerk",
            "--meta", json.dumps({"applicant": "Петров П. П."}))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [line["sha256"] for line in lines] == [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    out = tmp_path / "out.pdf"
    g = dms(settings, "get", str(lines[1]["id"]), "-o", str(out), "--as", "clerk")
    assert g.returncode == 0, g.stderr
    assert out.read_bytes() == files[1].read_bytes()


def test_refusal_exits_non_zero_with_one_line_on_stderr(settings, rt, world, tmp_path):  # noqa: ANN001
    world.user("auditor", "Auditor")
    world.folder("/Входящие")
    p = tmp_path / "a.pdf"
    p.write_bytes(make_pdf())
    r = dms(settings, "ingest", str(p), "--folder", "/Входящие", "--type", "order", "--as", "auditor")
    assert r.returncode == 3
    assert len(r.stderr.strip().splitlines()) == 1 and "отказано" in r.stderr
    missing = dms(settings, "ingest", str(p), "--folder", "/Нет такой", "--type", "order", "--as", "auditor")
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1


def test_user_add_rejects_short_password_and_unknown_login_chars(settings, rt):  # noqa: ANN001
    r = dms(settings, "user", "add", "x y", "--password-stdin", stdin="long-enough-pass\n")
    assert r.returncode == 2 and r.stderr.startswith("dms:")
    r = dms(settings, "user", "add", "ok", "--password-stdin", stdin="short\n")
    assert r.returncode == 2 and "пароль" in r.stderr


def test_user_passwd_sets_a_new_password_that_logs_in(settings, rt, world):  # noqa: ANN001
    world.user("clerk", "Clerk")
    r = dms(settings, "user", "passwd", "clerk", "--password-stdin", stdin="brand-new-password\n")
    assert r.returncode == 0, r.stderr
    from dms.people import users
    with rt.db.session() as s:
        assert users.authenticate(s, "clerk", "brand-new-password").login == "clerk"
