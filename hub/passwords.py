"""Password hashing (argon2id through argon2-cffi), the password policy, and random secrets.

The policy: at least 12 characters, and not easy to guess by zxcvbn's estimate (score 3 of 4:
"safely unguessable" against an online attack throttled as ours is). The estimate takes the
agent's name and email as words an attacker would try first.
"""

from __future__ import annotations

import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

MIN_LENGTH = 12
MAX_LENGTH = 500
MIN_SCORE = 3
# zxcvbn's cost grows with the length; past this many characters a password is long enough anyway.
_ESTIMATE_CHARS = 100
# Why a password is refused: a key the interfaces translate.
TOO_SHORT, TOO_LONG, GUESSABLE = "too_short", "too_long", "guessable"


def password_problem(password: str, *, user_inputs: tuple[str, ...] = ()) -> str | None:
    """None if `password` may be used; otherwise why not (`TOO_SHORT`, `TOO_LONG`, `GUESSABLE`)."""
    if len(password) < MIN_LENGTH:
        return TOO_SHORT
    if len(password) > MAX_LENGTH:
        return TOO_LONG
    from zxcvbn import zxcvbn

    words = [w for value in user_inputs for w in re.split(r"[^\w]+", value.lower()) if len(w) >= 3]
    # zxcvbn counts separators between known words as random characters ("jordi.vidal.2026" scores
    # 4 for Jordi Vidal), so what is left without the agent's own words must be strong too.
    rest = password.lower()
    for word in sorted(words, key=len, reverse=True):
        rest = rest.replace(word, "")
    for candidate in {password, rest}:
        if zxcvbn(candidate[:_ESTIMATE_CHARS], user_inputs=words)["score"] < MIN_SCORE:
            return GUESSABLE
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 90 bits
