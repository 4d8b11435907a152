"""pyHanko's signing and validation are coroutines; the library's API is synchronous. These two helpers run a
coroutine to completion from synchronous code even when the calling thread already runs an event loop (an
async web server, Playwright's sync API, a notebook), where asyncio.run and run_until_complete refuse: the
coroutine then runs on a short-lived thread of its own."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from collections.abc import Coroutine

T = TypeVar("T")


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, also from inside a running loop."""
    if not _loop_running():
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="signing-aio") as pool:
        return pool.submit(asyncio.run, coro).result()


def run_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """loop.run_until_complete for a loop kept between calls, also from inside another running loop."""
    if not _loop_running():
        return loop.run_until_complete(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="signing-aio") as pool:
        return pool.submit(loop.run_until_complete, coro).result()
