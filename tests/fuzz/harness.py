"""The bounded API fuzz run: schemathesis against `dms serve` on loopback, over the demo archive, as three callers.

    prepare(dir)  a data dir with `dms init` + `dms demo` and known passwords for the two callers with tokens
    Served(dir)   `dms serve` on a free loopback port (context manager), with tokens for them
    fuzz(...)     one schemathesis CLI run for one caller; returns its JSON report

Every run uses a fixed seed and a fixed number of examples per operation, and these checks: no 5xx, every status
code, content type, header and body as the document (/api/v1/openapi.json) describes, an operation that needs a
token refuses a request without one, a method a path does not have is a 405 with Allow. The token-revoking
operations (DELETE /tokens/…) run after the others, so the caller's own token stays valid while the rest runs.

`python -m tests.fuzz.harness` (scripts/fuzz) runs everything, prints the figures and exits non-zero on any finding;
tests/fuzz/test_api_fuzz.py runs the same under pytest (marker `fuzz`).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

SEED = 20261205
EXAMPLES = int(os.environ.get("DMS_FUZZ_EXAMPLES", "10"))  # per operation and phase
PASSWORD = "Fz-Kq7-Wm3-Zx9-Lp2"
# Who calls: an administrator (global role), a user with only local roles on one centre's folder (cok1 in the
# demo), and no one. The local-role user runs first, anonymous second, the administrator (who may destroy) last.
CALLERS = {"local": "cok1", "anonymous": None, "admin": "admin"}
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
          "response_schema_conformance,ignored_auth,unsupported_method,missing_required_header")
TOKEN_OPERATIONS = r"^/tokens/"  # DELETE /tokens/current, /tokens/{id}: would revoke the caller's own token
BIN = Path(sys.executable).parent


def _env(data_dir: Path) -> dict[str, str]:
    """The embedded default in `data_dir`; DMS_FUZZ_DATABASE_URL (an empty database) puts the rows there instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMS_")}
    env.update(DMS_DATA_DIR=str(data_dir), PYTHONWARNINGS="ignore")
    if os.environ.get("DMS_FUZZ_DATABASE_URL"):
        env["DMS_DATABASE_URL"] = os.environ["DMS_FUZZ_DATABASE_URL"]
    return env


def _dms(data_dir: Path, *args: str, stdin: str | None = None) -> None:
    proc = subprocess.run([str(BIN / "dms"), *args], env=_env(data_dir), input=stdin, text=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError(f"dms {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")


def prepare(data_dir: Path) -> None:
    """The demo archive, and a known password for each caller with a login."""
    _dms(data_dir, "init")
    _dms(data_dir, "demo")
    for login in filter(None, CALLERS.values()):
        _dms(data_dir, "user", "passwd", login, "--password-stdin", stdin=PASSWORD + "\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post_json(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


class Served:
    """`dms serve` (one threaded process, the embedded default) on a free loopback port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "serve.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Served:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([str(BIN / "dms"), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                                          "--workers", "0"], env=_env(self.data_dir), stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.base + "/api/v1/openapi.json", timeout=5) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("dms serve did not start:\n" + self.log.read_text(errors="replace")[-3000:])
            time.sleep(0.3)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def token(self, login: str | None) -> str | None:
        if login is None:
            return None
        return str(_post_json(self.base + "/api/v1/tokens", {"login": login, "password": PASSWORD})["token"])

    def server_errors_logged(self) -> list[str]:
        """Tracebacks the app wrote (a 500 that a check might have missed)."""
        text = self.log.read_text(errors="replace")
        return [line for line in text.splitlines() if line.startswith("unhandled error on")]


@dataclass
class Result:
    caller: str
    part: str
    exit_code: int
    seconds: float
    report: dict = field(default_factory=dict)
    output: str = ""

    @property
    def generated(self) -> int:
        return int(self.report.get("test_cases", {}).get("generated", 0))

    @property
    def failures(self) -> list[dict]:
        return list(self.report.get("failures", []))

    @property
    def errors(self) -> list:
        return list(self.report.get("errors", []))

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.failures and not self.errors

    def line(self) -> str:
        found = ", ".join(f"{f['code']} {f['title']}: {f['count']} ({'; '.join(f['operations'][:4])})"
                          for f in self.failures) or "none"
        if self.part == "walk":
            return (f"{self.caller:<9} walk   {self.generated:>5} requests over the demo archive "
                    f"{self.seconds:6.1f} s  statuses {self.report.get('statuses')}  findings: {found}")
        tested = self.report.get("operations", {}).get("tested", 0)
        return (f"{self.caller:<9} {self.part:<6} {tested:>3} operations {self.generated:>5} cases "
                f"{self.seconds:6.1f} s  findings: {found}" + (f"; errors: {len(self.errors)}" if self.errors else ""))


def fuzz(served: Served, caller: str, token: str | None, part: str, workdir: Path,
         examples: int = EXAMPLES) -> Result:
    """One schemathesis run. part: "main" (all but the token-revoking operations) or "tokens" (those)."""
    report = workdir / f"schemathesis-{caller}-{part}.json"
    cmd = [str(BIN / "schemathesis"), "run", served.base + "/api/v1/openapi.json", "--seed", str(SEED),
           "-n", str(examples), "--phases", "examples,coverage,fuzzing", "--checks", CHECKS,
           # One worker thread: with two, hypothesis describes its filters with ast.parse in both at once, and
           # CPython 3.11.7's AST constructor keeps its recursion depth per interpreter (gh-106905): a run died of
           # "SystemError: AST constructor recursion depth mismatch" and lost its coverage phase.
           "--generation-database", "none", "--no-color", "-w", "1", "--request-timeout", "60",
           "--report", "json", "--report-json-path", str(report), "--warnings", "off"]
    cmd += ["--exclude-path-regex", TOKEN_OPERATIONS] if part == "main" else ["--include-path-regex", TOKEN_OPERATIONS]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    seconds = time.monotonic() - started
    data = json.loads(report.read_text()) if report.exists() else {}
    return Result(caller, part, proc.returncode, seconds, data, proc.stdout + proc.stderr)


def walk(served: Served, caller: str, token: str | None) -> Result:
    """The deterministic part: every list the caller may read and the details of what it names (demo ids), each
    answer checked against the document; a random id rarely reaches these objects."""
    from .conformance import walk as walk_over
    with urllib.request.urlopen(served.base + "/api/v1/openapi.json", timeout=30) as r:
        spec = json.loads(r.read())
    started = time.monotonic()
    w = walk_over(served.base, token, spec, write=caller == "admin")
    failures = [{"code": "WALK", "title": "answer outside the document", "count": len(w.found),
                 "operations": w.found[:4]}] if w.found else []
    statuses = {str(k): v for k, v in sorted(w.statuses.items())}
    return Result(caller, "walk", 1 if w.found else 0, time.monotonic() - started,
                  {"test_cases": {"generated": w.requests}, "failures": failures, "statuses": statuses,
                   "operations": {"tested": len({f.split(" ")[1] for f in w.found})}},
                  "\n".join(w.found))


def run_all(workdir: Path) -> tuple[list[Result], list[str], float]:
    """Prepare, serve, fuzz as every caller; (results, tracebacks in the server log, setup seconds)."""
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    prepare(data_dir)
    setup = time.monotonic() - started
    results = []
    with Served(data_dir) as served:
        for caller, login in CALLERS.items():
            token = served.token(login)
            results.append(walk(served, caller, token))
            results.append(fuzz(served, caller, token, "main", workdir))
            results.append(fuzz(served, caller, token, "tokens", workdir))
        logged = served.server_errors_logged()
    return results, logged, setup


def main() -> int:
    keep = os.environ.get("DMS_FUZZ_DIR")
    workdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="dms-fuzz-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results, logged, setup = run_all(workdir)
    total = time.monotonic() - started
    print(f"API fuzz run: seed {SEED}, {EXAMPLES} examples per operation and phase, checks {CHECKS}")
    print(f"setup (dms init + demo): {setup:.1f} s")
    for r in results:
        print(r.line())
    cases = sum(r.generated for r in results)
    bad = [r for r in results if not r.ok]
    print(f"total: {cases} cases in {total:.1f} s; runs with findings: {len(bad)}; "
          f"server errors in the app log: {len(logged)}")
    for r in bad:
        print(f"\n===== {r.caller} / {r.part}: exit {r.exit_code}\n{r.output[-12000:]}")
    for line in logged[:20]:
        print(line)
    if not keep:
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if bad or logged else 0


if __name__ == "__main__":
    sys.exit(main())
