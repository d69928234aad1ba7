"""One background thread per process for network calls that must not block the event loop.

Enqueuing a dramatiq message on Redis or RabbitMQ, or publishing a live notice on Redis, is a
blocking round trip (about 1-2 ms under load). Done inline it stalls every request being
served by the loop; handed to this thread it costs the loop a queue put. Work given here is
best-effort by design: the database already holds what matters, and the scheduler's sweeps
re-enqueue anything a lost call leaves behind (outbox rows, unprocessed inbox rows).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_queue: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
_thread: threading.Thread | None = None
_lock = threading.Lock()


def _run() -> None:
    while True:
        job = _queue.get()
        if job is None:
            return
        try:
            job()
        except Exception:
            log.exception("background call failed (the scheduler's sweeps will retry the work)")


def submit(job: Callable[[], object]) -> None:
    global _thread
    if _thread is None or not _thread.is_alive():
        with _lock:
            if _thread is None or not _thread.is_alive():
                _thread = threading.Thread(target=_run, name="hub-offload", daemon=True)
                _thread.start()
    _queue.put(job)


def drain(timeout: float = 5.0) -> None:
    """Wait until what was submitted so far has run (shutdown, tests)."""
    done = threading.Event()
    submit(done.set)
    done.wait(timeout)
