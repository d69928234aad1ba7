"""The web fixtures (tests/support/agent_ui.py): an app on the test database, one login per role."""

from tests.support.agent_ui import app, client, logins  # noqa: F401
