"""Two-factor sign-in: TOTP (RFC 6238, through pyotp) and single-use recovery codes.

An agent enrols by scanning a QR code of a new secret and typing one code it produces; only
then is the secret stored, with ten recovery codes of which only SHA-256 hashes are kept (each
is 50 random bits and sign-ins are throttled, so a fast hash is enough). `HUB_REQUIRE_2FA`
names the roles that must have it (`Settings.two_factor_roles`); the web layer leads such an
agent to enrol before anything else, and refuses them API tokens until they have.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
from sqlalchemy import delete, update
from sqlmodel import col

from hub.actions.audit import add_audit
from hub.actions.errors import Conflict, Invalid, NotFound
from hub.actions.unit import UnitOfWork
from hub.context import HubContext
from hub.db.tables import Agent, RecoveryCode

RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes are read off paper


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str, issuer: str) -> str:
    """What the QR code holds (`otpauth://totp/...`), for authenticator apps."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step `code` belongs to (now, or one step either side for clock drift), or None.

    Callers refuse a step already used (a code seen on a shoulder or in a log is not reusable)."""
    code = "".join(code.split())
    if not secret or len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _digest(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


def _new_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


async def do_use_recovery_code(ctx: HubContext, agent_id: int, code: str) -> bool:
    """Spend one recovery code (each works once, even under concurrent attempts)."""
    if not 8 <= len(_normalise(code)) <= 12:
        return False
    async with UnitOfWork(ctx) as uow:
        result = await uow.session.exec(  # type: ignore[call-overload]
            update(RecoveryCode)
            .where(col(RecoveryCode.agent_id) == agent_id, col(RecoveryCode.code_hash) == _digest(code),
                   col(RecoveryCode.used_at).is_(None))
            .values(used_at=uow.now)
        )
        used = bool(result.rowcount)
        if used:
            add_audit(uow, agent_id, "agent.2fa_recovery_code", "agent", agent_id)
        return used


async def do_enable_two_factor(ctx: HubContext, agent_id: int, secret: str, code: str) -> list[str]:
    """Store the secret once `code` proves the app has it; returns the new recovery codes (shown once)."""
    if totp_step(secret, code, ctx.clock.now()) is None:
        raise Invalid("that code does not match: check the phone's clock and try the next code")
    codes = _new_codes()
    async with UnitOfWork(ctx) as uow:
        agent = await uow.session.get(Agent, agent_id, with_for_update=True)
        if agent is None or not agent.active:
            raise NotFound(f"agent {agent_id} does not exist")
        if agent.totp_enabled_at is not None:
            raise Conflict("two-factor sign-in is on already")
        agent.totp_secret, agent.totp_enabled_at = secret, uow.now
        uow.session.add(agent)
        await uow.session.exec(delete(RecoveryCode).where(col(RecoveryCode.agent_id) == agent_id))  # type: ignore[call-overload]
        for plain in codes:
            uow.session.add(RecoveryCode(agent_id=agent_id, code_hash=_digest(plain), created_at=uow.now))
        add_audit(uow, agent_id, "agent.2fa_enable", "agent", agent_id)
    return codes


async def do_disable_two_factor(ctx: HubContext, actor_id: int, agent_id: int) -> None:
    """Switch two-factor sign-in off: an admin for a colleague who lost their phone (they enrol
    again at their next sign-in if their role requires it), or an agent whose role does not."""
    async with UnitOfWork(ctx) as uow:
        agent = await uow.session.get(Agent, agent_id, with_for_update=True)
        if agent is None:
            raise NotFound(f"agent {agent_id} does not exist")
        if actor_id == agent_id and agent.role in ctx.settings.two_factor_roles:
            raise Conflict("your role requires two-factor sign-in")
        agent.totp_secret, agent.totp_enabled_at = "", None
        # Sessions opened with the old second factor end too.
        agent.password_changed_at = uow.now
        uow.session.add(agent)
        await uow.session.exec(delete(RecoveryCode).where(col(RecoveryCode.agent_id) == agent_id))  # type: ignore[call-overload]
        add_audit(uow, actor_id, "agent.2fa_disable", "agent", agent_id)
