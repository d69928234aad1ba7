"""Mail channel fixtures (tests/support/email_channel.py): a real Dovecot and a real SMTP sink,
with the hub configured to use both."""

from tests.support.email_channel import dovecot_server, folder, imap_ctx, settings, smtp  # noqa: F401
