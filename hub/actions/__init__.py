"""The only code that writes tickets, messages, events and outbox rows.

Naming: `check_*` validates, `do_*` changes state inside one `UnitOfWork` (one transaction), and
the bus hears about it only after commit. Every `do_*` takes the `HubContext` first.
"""

from hub.actions.errors import Conflict, DomainError, NotFound, Invalid

__all__ = ["Conflict", "DomainError", "Invalid", "NotFound"]
