"""The web fixtures of tests/agent_ui (an app on the test database, one login per role)."""

from tests.agent_ui.conftest import app, client, logins  # noqa: F401
