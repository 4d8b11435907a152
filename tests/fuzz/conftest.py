"""The fuzz run is a CI step of its own (scripts/fuzz, or `pytest -m fuzz tests/fuzz`): collected with the rest of
the suite, it is skipped unless the marker expression names it or DMS_FUZZ=1."""
from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzz: the bounded schemathesis run against the served API (scripts/fuzz)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "fuzz" in (config.option.markexpr or "") or os.environ.get("DMS_FUZZ") == "1":
        return
    skip = pytest.mark.skip(reason="the API fuzz run is its own CI step: scripts/fuzz or pytest -m fuzz tests/fuzz")
    for item in items:
        if "fuzz" in item.keywords:
            item.add_marker(skip)
