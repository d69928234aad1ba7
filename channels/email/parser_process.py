"""The mail parser process: runs of raw mail in on stdin, their `ParsedMail`s out on stdout.

The poller starts it (`poller.Parsers`) as `python -c "...; serve()"` with the poller's
`sys.path`. Each frame is a pickle preceded by its length (8 bytes, big-endian): first this
process sends `True` once it is ready, then, for each request `(items, headers_only, limits)`
(`parse.parse_many`'s arguments), one answer `(True, [ParsedMail, ...])`, or `(False, "why")`
if parsing raised, in the order the requests came. It ends when stdin ends: the poller closed
it, or the poller is gone (killed too: the kernel closes its end of the pipe).

It imports `parse.py` only (the standard library's email package; nh3 when it first meets
HTML), never the hub: it is ready in about a tenth of a second of CPU, where a process that
imported the hub (and the poller's own entry point again, as multiprocessing's spawn does)
took about a second, during which the poller parsed itself.
"""

from __future__ import annotations

import pickle
import struct
import sys
from typing import IO, Any

from channels.email.parse import parse_many

FRAME = struct.Struct("!Q")  # the length of the pickle that follows


def serve() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout carries frames only: a stray print must not corrupt them
    write(stdout, True)
    while (request := read(stdin)) is not None:
        items, headers_only, limits = request
        try:
            answer: tuple[bool, Any] = (True, parse_many(items, headers_only, limits))
        except Exception as exc:  # noqa: BLE001 - parse_mail does not raise; if it did, the poller says so
            answer = (False, f"{type(exc).__name__}: {exc}")
        write(stdout, answer)


def write(stream: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(FRAME.pack(len(data)))
    stream.write(data)
    stream.flush()


def read(stream: IO[bytes]) -> Any:
    """The next frame's value; None at the end of the stream."""
    head = stream.read(FRAME.size)
    if len(head) < FRAME.size:
        return None
    (size,) = FRAME.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)
