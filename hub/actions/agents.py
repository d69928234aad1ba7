"""Agents: creating logins, presence and capacity.

Creating and switching off a login are the admins' (or the system's: the command line, the
demo, an identity provider's sign-in), checked and audited here in the change's transaction.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import select

from hub import events
from hub.actions.audit import add_audit
from hub.actions.errors import Conflict, Invalid, NotFound
from hub.actions.permissions import Who, acting, check_admin
from hub.actions.routing import hand_back_all, hand_back_on_offline, set_presence
from hub.actions.unit import UnitOfWork
from hub.actors import Actor
from hub.context import HubContext
from hub.db.tables import Agent, ApiToken
from hub.passwords import hash_password
from hub.routing import PRESENCES

ROLES = ("agent", "manager", "admin")


async def do_create_agent(
    ctx: HubContext, email: str, name: str, role: str, password: str, capacity: int = 5,
    language: str | None = None, *, by: Who = None,
) -> int:
    """A new login, created by an admin (`by`: an actor or an agent id) or the system (None)."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise Invalid(f"not an email address: {email!r}")
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise Invalid("a password needs at least 8 characters")
    if not name.strip():
        raise Invalid("an agent needs a name")
    async with UnitOfWork(ctx) as uow:
        actor = await acting(uow.session, by)
        check_admin(actor)
        if (await uow.session.exec(select(Agent).where(Agent.email == email))).first() is not None:
            raise Conflict(f"an agent with the login {email} exists already")
        agent = await add_agent(uow, actor, Agent(
            email=email, name=name.strip(), role=role, password_hash=hash_password(password),
            capacity=capacity, language=language or ctx.settings.language, created_at=uow.now,
        ))
        assert agent.id is not None
        return agent.id


async def add_agent(uow: UnitOfWork, actor: Actor, agent: Agent, **detail: object) -> Agent:
    """Write a new login in the caller's transaction, with its `agent.create` entry (`detail`
    says how it came, e.g. from an identity provider)."""
    uow.session.add(agent)
    await uow.session.flush()
    add_audit(uow, actor.agent_id, "agent.create", "agent", agent.id, **{"role": agent.role, **detail})
    return agent


async def do_set_presence(ctx: HubContext, agent_id: Who, presence: str) -> None:
    """Set an agent's presence, nothing more (no tickets move: see `do_change_presence`)."""
    if presence not in PRESENCES:
        raise Invalid(f"presence must be one of {', '.join(PRESENCES)}")
    async with UnitOfWork(ctx) as uow:
        actor = await acting(uow.session, agent_id)
        agent = await uow.session.get(Agent, actor.agent_id, with_for_update=True) if actor.agent_id else None
        if agent is None:
            raise NotFound(f"agent {agent_id} does not exist")
        set_presence(uow, agent, presence, actor.agent_id)


async def do_set_agent_language(ctx: HubContext, agent_id: int, language: str) -> None:
    from hub.config import LANGUAGES

    if language not in LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)}")
    async with UnitOfWork(ctx) as uow:
        agent = await uow.session.get(Agent, agent_id, with_for_update=True)
        if agent is None:
            raise NotFound(f"agent {agent_id} does not exist")
        agent.language = language
        uow.session.add(agent)


async def do_deactivate_agent(ctx: HubContext, agent_id: int, by_agent_id: Who) -> None:
    """Switch a login off: its sessions and API tokens stop working at the next request.

    Sessions are checked against `Agent.active` on every request (agent_ui.security), so
    nothing else has to be found and deleted; tokens are revoked as well, for the record.
    Their tickets go back to the queue the way going offline hands them back. Admins only
    (`by_agent_id`: an actor or an agent id; None is the system).
    """
    async with UnitOfWork(ctx) as uow:
        actor = await acting(uow.session, by_agent_id)
        check_admin(actor)
        if actor.agent_id is not None and actor.agent_id == agent_id:
            raise Conflict("you cannot switch off your own login: ask another admin")
        agent = await uow.session.get(Agent, agent_id, with_for_update=True)
        if agent is None:
            raise NotFound(f"agent {agent_id} does not exist")
        was_active = agent.active
        # Their tickets go back to the queue in this transaction, as going offline hands them back.
        if was_active and await hand_back_on_offline(uow):
            await hand_back_all(uow, agent_id)
        agent.active, agent.presence, agent.presence_changed_at = False, "offline", uow.now
        uow.session.add(agent)
        await uow.session.exec(  # type: ignore[call-overload]
            update(ApiToken).where(ApiToken.agent_id == agent_id, ApiToken.revoked_at.is_(None))  # type: ignore[union-attr]
            .values(revoked_at=uow.now)
        )
        if was_active:
            add_audit(uow, actor.agent_id, "agent.deactivate", "agent", agent_id)
            uow.emit(events.AgentChanged(agent_id))
