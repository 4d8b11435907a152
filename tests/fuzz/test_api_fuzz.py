"""The API as the document describes it, fuzzed (issue 12, item 5): schemathesis against `dms serve` over the demo
archive as a local-role user, anonymous and an administrator, fixed seed, bounded examples. Every run must end with
no server error and no answer outside the document (status, content type, headers, body schema)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import CALLERS, Served, fuzz, prepare, walk

pytestmark = pytest.mark.fuzz


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    workdir = tmp_path_factory.mktemp("fuzz")
    data_dir = workdir / "data"
    data_dir.mkdir()
    prepare(data_dir)
    with Served(data_dir) as server:
        yield server, workdir
        assert not server.server_errors_logged(), "the app logged unhandled errors: see " + str(server.log)


@pytest.mark.parametrize("caller", list(CALLERS))
def test_the_api_answers_as_documented_under_fuzzing(served: tuple[Served, Path], caller: str) -> None:
    server, workdir = served
    token = server.token(CALLERS[caller])
    walked = walk(server, caller, token)
    print(walked.line())
    assert walked.generated > 0
    if not walked.ok:
        pytest.fail(walked.line() + "\n" + walked.output[-12000:], pytrace=False)
    for part in ("main", "tokens"):
        result = fuzz(server, caller, token, part, workdir)
        print(result.line())
        if not result.report or not result.generated or not result.ok:
            pytest.fail(result.line() + "\n" + result.output[-12000:], pytrace=False)
