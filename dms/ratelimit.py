"""A per-client sliding-window limit for public endpoints (verification lookups). In memory, per process: with N
web workers a client gets at most N times the limit, which still stops enumeration of certificate numbers."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

MAX_CLIENTS = 50_000


class RateLimiter:
    def __init__(self, limit: int, window_s: float):
        self.limit = limit
        self.window = window_s
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.pop(client, None) or deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            allowed = len(hits) < self.limit
            if allowed:
                hits.append(now)
            self._hits[client] = hits
            while len(self._hits) > MAX_CLIENTS:
                self._hits.popitem(last=False)
            return allowed
