"""Domain errors, mapped by the web layer to HTTP statuses (403, 404, 409, 422)."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: the message is safe to show to an agent or an API client."""


class NotFound(DomainError):
    pass


class Conflict(DomainError):
    """The request is valid but the current state forbids it (e.g. resolving a closed ticket)."""


class Forbidden(DomainError):
    """The actor may not do this: their role, or the thing is a colleague's (403)."""


class Invalid(DomainError):
    """The request breaks a domain rule about its content (e.g. a reply to an agentless channel)."""


class Refused(Invalid):
    """Invalid input whose sentence agents read in their language: `template` is an English msgid
    with %(name)s fields (the web layer translates it); str() is the English sentence."""

    def __init__(self, template: str, **values: object) -> None:
        self.template = template
        self.values = values
        super().__init__(template % values)


class RefusedConflict(Conflict):
    """A conflict agents read in their language, like `Refused` (e.g. a name already taken)."""

    def __init__(self, template: str, **values: object) -> None:
        self.template = template
        self.values = values
        super().__init__(template % values)


class WeakPassword(Invalid):
    """A password the policy refuses; `reason` is one of `hub.passwords`' keys, for translation."""

    MESSAGES = {
        "too_short": "A password needs at least 12 characters.",
        "too_long": "A password may have at most 500 characters.",
        "guessable": "This password is too easy to guess (a common word, a name, a date or a pattern). "
                     "A few unrelated words make a strong one.",
        "wrong_current": "Your current password is not right.",
    }

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(self.MESSAGES.get(reason, reason))
