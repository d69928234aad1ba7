"""Voice fixtures (tests/support/phone_channel.py): the webhook app on the test database."""

from tests.support.phone_channel import voice  # noqa: F401
