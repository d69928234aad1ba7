"""Fault fixtures (tests/support/faults.py): the hub's processes with a PostgreSQL, a Redis,
a Dovecot and a Twilio stand-in of their own."""

from tests.support.faults import stack, topology  # noqa: F401
