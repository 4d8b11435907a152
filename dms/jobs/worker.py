"""Where jobs run: `dms worker` (Huey's consumer), the thread `dms serve` starts on the embedded default, and
run_pending (tests, a CLI that wants the work done now). Importing this module registers the handlers
(dms.jobs.tasks); each loop announces the process's key for sealed secrets (dms.jobs.core.announce)."""
from __future__ import annotations

import logging
import threading
import time

import dms.jobs.tasks  # noqa: F401  (registers the handlers this process runs)
from dms.jobs.core import announce, queue, recover
from dms.runtime import Runtime

log = logging.getLogger("dms.jobs")
ANNOUNCE_EVERY_S = 60.0


def run_pending(rt: Runtime, limit: int = 1000) -> int:
    """Run the queue's waiting messages in this thread (tests, and a CLI that wants the work done now)."""
    huey = queue(rt)
    announce(rt)
    count = 0
    while count < limit:
        task = huey.dequeue()
        if task is None:
            break
        huey.execute(task)
        count += 1
    return count


def run_worker(rt: Runtime, workers: int = 2) -> None:
    """`dms worker`: Huey's consumer (threads; SIGINT stops gracefully, SIGTERM at once) after a recovery pass; the
    periodic recovery task announces this process's key each minute."""
    huey = queue(rt)
    announce(rt)
    recover(rt)
    huey.create_consumer(workers=workers, worker_type="thread", periodic=True, max_delay=2.0).run()


def start_thread(rt: Runtime, idle_sleep: float = 1.0) -> tuple[threading.Thread, threading.Event]:
    """The embedded default: one thread of `dms serve` runs the queue (like the indexer thread); a recovery pass
    and an announcement at start and each minute."""
    stop = threading.Event()
    announce(rt)  # before the first page can seal a PIN to this process

    def loop() -> None:
        from datetime import UTC, datetime
        huey = queue(rt)
        last_recover = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - last_recover > ANNOUNCE_EVERY_S:
                    last_recover = time.monotonic()
                    announce(rt)
                    recover(rt)
                for task in huey.read_schedule(datetime.now(UTC).replace(tzinfo=None)):  # retries past their delay
                    huey.enqueue(task)
                task = huey.dequeue()
                if task is None:
                    stop.wait(idle_sleep)
                    continue
                huey.execute(task)
            except Exception:  # noqa: BLE001  the loop outlives one bad message
                log.exception("job queue loop failed; continuing")
                stop.wait(5)

    thread = threading.Thread(target=loop, name="dms-jobs", daemon=True)
    thread.start()
    return thread, stop
