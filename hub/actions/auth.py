"""Logins and API tokens: checking passwords, issuing and resolving bearer tokens.

A token works for `HUB_TOKEN_TTL` (default 12 hours) after it was issued, until it is revoked
(`DELETE /api/v1/auth/token`), or until its agent's password changes or the agent is switched off.

Only a SHA-256 of each token is stored (tokens are 256-bit random, so a fast hash is enough);
the plain token is shown once, to whoever asked for it with a valid password.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import bindparam, update
from sqlmodel import col, select

from hub.actions.audit import add_audit
from hub.actions.errors import NotFound
from hub.actions.permissions import Who, acting
from hub.actions.unit import UnitOfWork
from hub.actors import Actor
from hub.context import HubContext
from hub.db.tables import Agent, ApiToken
from hub.passwords import hash_password, verify_password

# Verified against when the login is unknown, so a wrong email costs as much time as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
# last_used_at is a hint for admins, not an audit trail: refresh it at most this often.
_TOUCH_EVERY = timedelta(minutes=5)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def check_login(ctx: HubContext, email: str, password: str) -> Agent | None:
    """The active agent with this login and password, or None (same cost either way)."""
    email = email.strip().lower()
    async with ctx.sessionmaker() as session:
        agent = (await session.exec(select(Agent).where(Agent.email == email))).first()
    stored = agent.password_hash if agent is not None and agent.password_hash else _DUMMY_HASH
    ok = await asyncio.to_thread(verify_password, stored, password)
    if agent is None or not agent.active or not ok:
        return None
    return agent


async def do_issue_api_token(ctx: HubContext, agent_id: int, *, address: str | None = None) -> str:
    """A new bearer token. With the client's `address` it is a sign-in (`POST /api/v1/auth/token`),
    recorded as `login` in the token's transaction."""
    token = "hub_" + secrets.token_urlsafe(32)
    async with UnitOfWork(ctx) as uow:
        agent = await uow.session.get(Agent, agent_id, with_for_update=True)
        if agent is None or not agent.active:
            raise NotFound(f"agent {agent_id} does not exist")
        uow.session.add(ApiToken(agent_id=agent_id, token_hash=token_digest(token), created_at=uow.now))
        if address is not None:
            _signed_in(uow, agent_id, "token", address)
    return token


async def do_revoke_api_token(ctx: HubContext, token: str, by: Who = None) -> bool:
    """Revoke a bearer token (`by`: its agent, who asked; recorded whether or not it still worked)."""
    async with UnitOfWork(ctx) as uow:
        actor = await acting(uow.session, by)
        if actor.agent_id is not None:
            add_audit(uow, actor.agent_id, "token.revoke", "agent", actor.agent_id)
        row = (await uow.session.exec(
            select(ApiToken).where(ApiToken.token_hash == token_digest(token)).with_for_update()
        )).first()
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = uow.now
        uow.session.add(row)
        return True


class TokenAgent(msgspec.Struct, frozen=True):
    """The agent a bearer token belongs to, as the web needs it on every call (no ORM object)."""

    id: int
    email: str
    name: str
    role: str
    presence: str
    capacity: int
    language: str
    totp_enabled_at: datetime | None
    active: bool


@functools.cache
def _token_statement() -> Any:
    """Built once: the token's row and its agent's columns, by digest, unrevoked and not expired."""
    return (
        select(ApiToken.id, ApiToken.last_used_at, Agent.id, Agent.email, Agent.name, Agent.role, Agent.presence,
               Agent.capacity, Agent.language, Agent.totp_enabled_at, Agent.active)
        .join(Agent, col(Agent.id) == col(ApiToken.agent_id))
        .where(ApiToken.token_hash == bindparam("digest"), col(ApiToken.revoked_at).is_(None),
               col(ApiToken.created_at) > bindparam("issued_after", type_=ApiToken.__table__.c.created_at.type))
    )


async def agent_for_token(ctx: HubContext, token: str) -> TokenAgent | None:
    """The active agent a bearer token belongs to; None for unknown or revoked tokens."""
    if not token or len(token) > 200:
        return None
    digest = token_digest(token)
    now = ctx.clock.now()
    # Outside a transaction on PostgreSQL (`HubContext.reads`): the lookup is one round trip,
    # and the occasional touch below a statement that commits itself.
    async with ctx.reads() as session:
        conn = await session.connection()
        row = (await conn.execute(_token_statement(),
                                  {"digest": digest, "issued_after": now - ctx.settings.token_ttl})).first()
        if row is None:
            return None
        token_id, last_used_at, *columns = row
        if last_used_at is None or now - last_used_at > _TOUCH_EVERY:
            await conn.execute(update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=now))
            await session.commit()
    agent = TokenAgent(*columns)
    return agent if agent.active else None


# Signing in and out: the web keeps the session, the trail records it here -------------------
# Each is its own small action: one transaction that checks the login under its row lock (a
# sign-in) and writes the entry, so what the trail says happened is what the database saw.


def _signed_in(uow: UnitOfWork, agent_id: int, via: str, address: str, **detail: object) -> None:
    add_audit(uow, agent_id, "login", "agent", agent_id, via=via, address=address, **detail)


async def record_sign_in(ctx: HubContext, agent_id: int, via: str, address: str, **detail: object) -> None:
    """An agent signs in (`via`: form or oidc; tokens: `do_issue_api_token`; `detail`: e.g. the
    second factor used). 404 if the login was switched off since its password was checked."""
    async with UnitOfWork(ctx) as uow:
        agent = await uow.session.get(Agent, agent_id, with_for_update=True)
        if agent is None or not agent.active:
            raise NotFound(f"agent {agent_id} does not exist")
        _signed_in(uow, agent_id, via, address, **detail)


async def record_failed_sign_in(ctx: HubContext, via: str, email: str, address: str, agent_id: int | None = None,
                                **detail: object) -> None:
    """A sign-in was refused: which login was tried, from where (`detail`: the step or reason)."""
    async with UnitOfWork(ctx) as uow:
        add_audit(uow, None, "login.failed", "agent", agent_id, via=via, email=email, address=address, **detail)


async def record_sign_out(ctx: HubContext, actor: Actor, address: str) -> None:
    async with UnitOfWork(ctx) as uow:
        add_audit(uow, actor.agent_id, "logout", "agent", actor.agent_id, address=address)
