"""Embedded-mode logins, and `--demo` sample data."""

from __future__ import annotations

import os

from hub.config import Settings
from hub.context import HubContext

DEMO_AGENTS = [
    ("admin@oac.example", "Admin OAC", "admin"),
    ("manager@oac.example", "Marta Puig", "manager"),
    ("agent@oac.example", "Jordi Vidal", "agent"),
]


async def ensure_demo_logins(settings: Settings) -> list[tuple[str, str, str]]:
    """On an empty database, create one login per role; their passwords live in var/.

    Returns (email, role, password) for printing. Existing databases are never touched: the
    passwords file only remembers what this command created.
    """
    from sqlmodel import select

    from hub.actions.agents import do_create_agent
    from hub.db.tables import Agent
    from hub.passwords import generate_password

    path = settings.data_dir / "demo-logins.txt"
    ctx = HubContext.create(settings)
    try:
        async with ctx.sessionmaker() as session:
            has_agents = (await session.exec(select(Agent.id).limit(1))).first() is not None
        if not has_agents:
            lines = []
            for email, name, role in DEMO_AGENTS:
                password = generate_password()
                await do_create_agent(ctx, email, name, role, password)
                lines.append(f"{email}\t{role}\t{password}")
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)
            # Private from the first byte: created 0600, never world-readable for a moment.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write("\n".join(lines) + "\n")
    finally:
        await ctx.close()
    if not path.exists():
        return []
    return [tuple(line.split("\t")) for line in path.read_text().splitlines() if line.count("\t") == 2]  # type: ignore[misc]


async def seed_demo(settings: Settings) -> None:
    from entrypoints.demo_data import seed

    await seed(settings)
