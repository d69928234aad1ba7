"""The web fixtures (tests/support/agent_ui.py): an app on the test database, one login per role,
and an API token for the agent, a second agent and the manager."""

from tests.support.agent_ui import agent, agent2, app, client, logins, manager  # noqa: F401
