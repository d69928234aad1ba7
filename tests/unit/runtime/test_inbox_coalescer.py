"""Accepted inbox ids leave for the worker in few broker messages, each id exactly once, in order."""

from __future__ import annotations

import threading
import time

from runtime import offload
from runtime.reactions import _InboxCoalescer


class Recorder:
    def __init__(self, cost: float = 0.0) -> None:
        self.messages: list[list[int]] = []
        self.cost = cost
        self.lock = threading.Lock()

    def __call__(self, ids: list[int]) -> None:
        time.sleep(self.cost)  # an enqueue is a round trip to the broker
        with self.lock:
            self.messages.append(list(ids))


def test_a_burst_leaves_in_a_few_messages_with_every_id_once_in_order() -> None:
    sent = Recorder(cost=0.001)
    coalescer = _InboxCoalescer(enqueue=sent, in_memory=lambda: False)
    for inbox_id in range(1, 1001):  # webhooks answered faster than one enqueue
        coalescer.add(inbox_id)
        if inbox_id % 100 == 0:
            time.sleep(0.002)
    offload.drain(10)
    flat = [i for message in sent.messages for i in message]
    assert flat == list(range(1, 1001))
    assert all(len(message) <= _InboxCoalescer.MAX for message in sent.messages)
    # one message per WINDOW at most while the burst lasts, not one per webhook
    assert len(sent.messages) < 100, [len(m) for m in sent.messages]


def test_a_lone_webhook_after_a_quiet_spell_is_not_held_back() -> None:
    sent = Recorder()
    coalescer = _InboxCoalescer(enqueue=sent, in_memory=lambda: False)
    coalescer.WINDOW = 0.3  # wide, so that a loaded machine cannot blur the difference
    coalescer.add(1)
    offload.drain(10)
    time.sleep(coalescer.WINDOW + 0.05)  # quiet for longer than the window
    started = time.monotonic()
    coalescer.add(2)
    offload.drain(10)
    assert sent.messages == [[1], [2]]
    assert time.monotonic() - started < coalescer.WINDOW / 2  # no pause: the broker was idle
    coalescer.add(3)  # right after a message: this one waits for the window
    offload.drain(10)
    assert time.monotonic() - started > coalescer.WINDOW * 0.8 and sent.messages[-1] == [3]


def test_with_the_in_process_broker_each_id_leaves_at_once() -> None:
    sent = Recorder()
    coalescer = _InboxCoalescer(enqueue=sent, in_memory=lambda: True)
    coalescer.add(7)
    assert sent.messages == [[7]]  # synchronously: tests and `hub run` see the job at once
