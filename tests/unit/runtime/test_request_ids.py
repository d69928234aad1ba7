"""Request ids made by the web process: 16 hex digits, never repeated within a process."""

from __future__ import annotations

import re

from runtime.metrics import _RequestIds


def test_request_ids_are_sixteen_hex_digits_and_distinct() -> None:
    ids = _RequestIds()
    made = [ids.new() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", rid) for rid in made)
    assert len(set(made)) == len(made)


def test_two_processes_start_from_different_prefixes() -> None:
    first, second = _RequestIds(), _RequestIds()  # as two workers (or a forked child) would
    assert first.new()[:8] != second.new()[:8]
