"""The only code that writes tickets, messages, events and outbox rows.

Naming: `check_*` validates, `do_*` changes state inside one `UnitOfWork` (one transaction), and
the bus hears about it only after commit. Every `do_*` takes the `HubContext` first.

A writer is told who acts (`hub.actors.Actor`), checks what that actor may do on the rows it
has locked (`permissions`) and writes its audit entry in the same transaction (`audit.ACTIONS`:
each action from one place); reads the trail must show go through `reads`. Callers only parse,
call and render.
"""

from hub.actions.errors import Conflict, DomainError, NotFound, Invalid

__all__ = ["Conflict", "DomainError", "Invalid", "NotFound"]
