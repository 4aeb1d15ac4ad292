# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Quota-aware bulk work: a client-side rate limit and bounded parallelism with per-item results."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# Where a page says another follows (Lambda, CloudWatch Logs, SQS, IAM, CloudWatch name it one of these).
CONTINUATION_KEYS = ("NextMarker", "NextToken", "nextToken", "Marker")
# Lambda's control-plane quota per account-region (not increasable).
LAMBDA_CONTROL_PLANE_PER_SECOND = 15


class RateLimiter:
    """At most `rate` acquisitions per second across threads (a token bucket of one second)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(rate)
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                # A hair of tolerance: refilling by exactly the missing fraction can land a float
                # just under 1.
                if self._tokens >= 1 - 1e-9:
                    self._tokens = max(0.0, self._tokens - 1)
                    return
                wait = (1 - self._tokens) / self.rate
            self._sleep(wait)


def paced_pages(pages: Iterable, limiter: RateLimiter) -> Iterator:
    """The pages of a boto3 paginator, a token taken from `limiter` before each call: the first, and each next one
    that a page's continuation token asks for (a listing of one page takes one token, not two)."""
    limiter.acquire()
    for page in pages:
        yield page
        if any(page.get(key) for key in CONTINUATION_KEYS):
            limiter.acquire()


def run_bounded(work: Callable, items: list, max_workers: int) -> dict:
    """Run `work(item)` for every item on at most `max_workers` threads.
    Returns {item: (result, None)} or {item: (None, exception)}; one failure stops nothing."""
    def guarded(item):
        try:
            return item, work(item), None
        except Exception as error:  # noqa: BLE001 - reported per item by the caller
            return item, None, error

    if not items:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(items)))) as pool:
        return {item: (result, error) for item, result, error in pool.map(guarded, items)}


def in_background(work: Callable[[], Any]) -> Callable[[], Any]:
    """Start `work()` on a thread of its own and return a function that waits for it and returns what it returned,
    or raises what it raised. A daemon thread: a module that fails meanwhile exits without waiting for it."""
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = work()
        except Exception as error:  # noqa: BLE001 - raised to whoever waits for the result
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def result():
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    return result
