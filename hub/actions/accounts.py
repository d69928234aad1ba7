"""Agents' credentials: the password policy, changing and resetting passwords.

Every interface that takes a new password from a person (`hub agents add`, the new-login form,
`POST /api/v1/agents`, the password change and reset) calls `check_new_password` first; the
policy itself is in `hub.passwords`. A changed or reset password ends the agent's other
sessions (they started before `Agent.password_changed_at`, see agent_ui.security) and revokes
their API tokens, in the transaction that changes it, with its audit entry.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col

from hub.actions.audit import add_audit
from hub.actions.agents import add_agent
from hub.actions.errors import Invalid, NotFound, WeakPassword
from hub.actions.unit import UnitOfWork
from hub.actors import SYSTEM
from hub.context import HubContext
from hub.db.tables import Agent, ApiToken
from hub.passwords import hash_password, password_problem, verify_password


def check_new_password(password: str, *, name: str = "", email: str = "") -> None:
    """Raise `WeakPassword` (with a reason to translate) unless the policy accepts `password`."""
    problem = password_problem(password, user_inputs=(name, email))
    if problem is not None:
        raise WeakPassword(problem)


async def _set_password(uow: UnitOfWork, agent: Agent, new: str) -> datetime:
    agent.password_hash = await asyncio.to_thread(hash_password, new)
    agent.password_changed_at = uow.now
    uow.session.add(agent)
    await uow.session.exec(  # type: ignore[call-overload]
        update(ApiToken).where(col(ApiToken.agent_id) == agent.id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=uow.now)
    )
    return uow.now


async def do_change_password(ctx: HubContext, agent_id: int, current: str, new: str) -> datetime:
    """The agent changes their own password; returns the moment (sessions before it are over)."""
    async with ctx.sessionmaker() as session:
        agent = await session.get(Agent, agent_id)
    if agent is None or not agent.active:
        raise NotFound(f"agent {agent_id} does not exist")
    if not await asyncio.to_thread(verify_password, agent.password_hash, current):
        raise WeakPassword("wrong_current")
    check_new_password(new, name=agent.name, email=agent.email)
    async with UnitOfWork(ctx) as uow:
        row = await uow.session.get(Agent, agent_id, with_for_update=True)
        assert row is not None
        changed_at = await _set_password(uow, row, new)
        add_audit(uow, agent_id, "agent.password", "agent", agent_id)
    return changed_at


async def do_reset_password(ctx: HubContext, actor_id: int, agent_id: int, new: str) -> datetime:
    """An admin sets a colleague's password (the colleague's sessions and tokens end)."""
    async with UnitOfWork(ctx) as uow:
        agent = await uow.session.get(Agent, agent_id, with_for_update=True)
        if agent is None:
            raise NotFound(f"agent {agent_id} does not exist")
        check_new_password(new, name=agent.name, email=agent.email)
        changed_at = await _set_password(uow, agent, new)
        add_audit(uow, actor_id, "agent.password_reset", "agent", agent_id)
    return changed_at


# Sign-in through the city's identity provider (OpenID Connect) ------------------------------

_RANK = {"agent": 0, "manager": 1, "admin": 2}


def role_from_claim(value: object) -> str | None:
    """The hub role a claim value names (a string or a list; the highest role if several), or None."""
    values = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else []
    roles = [v.strip().lower() for v in values if isinstance(v, str) and v.strip().lower() in _RANK]
    return max(roles, key=_RANK.__getitem__) if roles else None


async def do_sign_in_from_identity_provider(
    ctx: HubContext, email: str, name: str, role: str | None, issuer: str,
) -> Agent:
    """The agent an identity provider vouched for, matched by email.

    - Known and active: signed in; when the provider names a role, the agent's role follows it
      (the provider is the authority, audited as `agent.role`).
    - Unknown: created only with the role the provider gave (never a default role), with no
      password (they sign in through the provider). No role: refused, nothing created.
    - Switched off in the hub: refused, whatever the provider says.
    """
    from sqlmodel import select

    from hub.actions.errors import Conflict, Invalid

    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise Invalid("the identity provider gave no usable email address")
    async with UnitOfWork(ctx) as uow:
        agent = (await uow.session.exec(select(Agent).where(Agent.email == email).with_for_update())).first()
        if agent is None:
            if role is None:
                raise Invalid("the identity provider gave this person no role in the hub")
            agent = Agent(email=email, name=(name.strip() or email)[:200], role=role, password_hash="",
                          language=ctx.settings.language, created_at=uow.now)
            return await add_agent(uow, SYSTEM, agent, via="oidc", issuer=issuer)
        if not agent.active:
            raise Conflict("this login is switched off in the hub")
        if role is not None and role != agent.role:
            add_audit(uow, None, "agent.role", "agent", agent.id, via="oidc", old=agent.role, new=role)
            agent.role = role
            uow.session.add(agent)
        return agent


MAX_SIGNATURE_CHARS = 1000


async def do_set_signature(ctx: HubContext, agent_id: int, signature: str) -> str:
    """The agent's signature under their email replies (plain text, a few lines); "" for none."""
    text = "\n".join(line.rstrip() for line in signature.replace("\r\n", "\n").strip().split("\n"))
    if len(text) > MAX_SIGNATURE_CHARS:
        raise Invalid(f"a signature has at most {MAX_SIGNATURE_CHARS} characters")
    if "\x00" in text:
        raise Invalid("a signature cannot hold a NUL character")
    async with UnitOfWork(ctx) as uow:
        row = await uow.session.get(Agent, agent_id, with_for_update=True)
        if row is None:
            raise NotFound(f"agent {agent_id} does not exist")
        before, row.signature = row.signature, text
        uow.session.add(row)
        if before != text:
            add_audit(uow, agent_id, "agent.signature", "agent", agent_id)
    return text


async def signature_of(ctx: HubContext, agent_id: int) -> str:
    async with ctx.sessionmaker() as session:
        row = await session.get(Agent, agent_id)
    return row.signature if row is not None else ""
