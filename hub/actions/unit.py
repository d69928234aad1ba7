"""One transaction: state change, its history events and outbox rows, then publication after commit."""

from __future__ import annotations

from collections import deque
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.orm import ORMExecuteState, make_transient_to_detached
from sqlalchemy.sql.util import find_tables
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import events
from hub.actions.errors import Conflict, NotFound
from hub.context import HubContext
from hub.db.bulk import insert_rows, insert_rows_async
from hub.db.tables import EventRow, Message, Outbox, Ticket, new_row
from hub.tickets import (
    DueKind, Event, IllegalTransition, Input, Status, TicketState, Transition, apply,
)


_EVENTS = EventRow.__table__  # type: ignore[attr-defined]


class UnitOfWork:
    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx
        self.now: datetime = ctx.clock.now()
        self.emitted: list[events.Announcement] = []  # published after commit (hub.events, hub.bus)
        self._outbox: list[Outbox] = []
        self.session: AsyncSession
        # Ids reserved from PostgreSQL sequences, by table, and how many to reserve at a time.
        self._ids: dict[str, deque[int]] = {}
        self._id_blocks: dict[str, int] = {}
        self._next_ids: dict[str, int] = {}  # SQLite: the next id this transaction gives, by table
        # What this transaction already read or wrote, so that a batch of actions in one
        # transaction (e.g. 200 mails) asks the database once instead of once per item.
        # Only actions that keep them correct use them; see `messages.do_receive_batch`.
        self.cache: dict[str, Any] = {}
        # Events and audit entries are append-only rows nobody reads back in the transaction
        # that writes them: plain dicts, by table, inserted in one statement per table before
        # any query that reads their table and at commit (an ORM object costs ten times as much
        # to build and to flush; a batch of mails records four events per mail, an audited read
        # one entry).
        self._appended: dict[Any, list[dict[str, Any]]] = {}
        # New rows kept out of the session (`add_new`), by table, in the order added; and the
        # Python ids of those not written yet (`keep` must not add them to the session too).
        self._new: dict[Any, list[SQLModel]] = {}
        self._unwritten: set[int] = set()

    async def __aenter__(self) -> "UnitOfWork":
        self.session = self.ctx.sessionmaker()
        await self.session.__aenter__()
        sa_event.listen(self.session.sync_session, "do_orm_execute", self._events_before_query)
        sa_event.listen(self.session.sync_session, "before_flush", self._new_before_flush)
        return self

    def _events_before_query(self, state: ORMExecuteState) -> None:
        # Any read in this transaction sees the new rows and events recorded so far (like
        # autoflush). New rows written now join the session, so later changes to them are
        # written too (as updates at flush). A read of other tables only (the texts, the
        # calendar's options, entry points: what the first item of a batch reads) leaves them
        # waiting, so a batch's new rows still go in one statement per table, and its tickets'
        # later changes with their INSERT instead of an UPDATE each.
        if self._new or self._appended:
            read = find_tables(state.statement, include_crud=True, include_joins=True, include_aliases=True)
            if any(table in self._new or table in self._appended for table in read) or not read:
                self._write_new(state.session)

    def _new_before_flush(self, session: Any, _context: Any, _instances: Any) -> None:
        # A flush writes them too: one asked for explicitly, and one that would insert a new row
        # also given to `session.add` (it is this transaction's to write, once).
        self._write_new(session)

    def _write_new(self, session: Any) -> None:
        conn = session.connection()
        for table, rows in self._take_new():
            insert_rows(conn, table, [row.__dict__ for row in rows], _keys(table))
            for row in rows:
                if row in session:  # added with `session.add` meanwhile: written here, not by the ORM
                    session.expunge(row)
                make_transient_to_detached(row)
                session.add(row)
        for table, rows in self._take_appended():
            insert_rows(conn, table, rows)

    def _take_appended(self) -> list[tuple[Any, list[dict[str, Any]]]]:
        appended, self._appended = self._appended, {}
        return list(appended.items())

    def _take_new(self) -> list[tuple[Any, list[SQLModel]]]:
        new, self._new = self._new, {}
        self._unwritten.clear()
        return [(table, rows) for table, rows in new.items() if rows]

    async def _write_kept(self) -> None:
        """At commit, before the last flush: the new rows kept so far, written without adding
        them to the session (nothing changes them any more). One also given to `session.add`
        is taken out of it first, or the flush would insert it a second time."""
        if self._new and self.session.new:
            for row in [row for row in self.session.new if id(row) in self._unwritten]:
                self.session.expunge(row)
        await self._write_events()

    async def _write_events(self) -> None:
        if not self._new and not self._appended:
            return
        conn = await self.session.connection()
        for table, rows in self._take_new():
            await insert_rows_async(conn, table, [row.__dict__ for row in rows], _keys(table))
        for table, rows in self._take_appended():
            await insert_rows_async(conn, table, rows)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                # New rows are written, not added to the session: nothing changes them now.
                await self._write_kept()
                await self.session.flush()
                await self._write_events()  # recorded while flushing, if any
                await self.session.commit()
            else:
                await self.session.rollback()
        finally:
            await self.session.__aexit__(exc_type, exc, tb)
        if exc_type is None:
            # Outbox ids exist only once flushed; announce them after the commit.
            self.emitted.extend(events.MessageQueued(row.id, row.message_id) for row in self._outbox)
            await self.ctx.bus.publish(self.emitted)

    # Reading --------------------------------------------------------------------------

    async def ticket_for_update(self, ticket_id: int) -> Ticket:
        """Load a ticket and lock its row until commit (PostgreSQL; SQLite locks the database)."""
        stmt = select(Ticket).where(Ticket.id == ticket_id).with_for_update()
        ticket = (await self.session.exec(stmt)).first()
        if ticket is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        return ticket

    # Writing --------------------------------------------------------------------------

    def expect(self, model: type[SQLModel], count: int) -> None:
        """Hint: about `count` new rows of `model` will get ids; reserve them in one query."""
        table = model.__tablename__  # type: ignore[attr-defined]
        self._id_blocks[table] = max(1, min(count, 10_000))

    async def add_new(self, row: SQLModel) -> int:
        """A new row, given its id now (`assign_id`) but kept out of the session: written with the
        other new rows of its table in one statement, before the next query or at commit.

        For rows a transaction creates many of (a batch of mail: contacts, identities, tickets,
        messages, outbox rows): `Session.add` and the ORM's flush cost more than building the row. A change made to the
        row before it is written is written with it; after, it joins the session (see
        `_events_before_query`), so a change is written as by the ORM.
        """
        table = row.__table__  # type: ignore[attr-defined]
        self._new.setdefault(table, []).append(row)
        self._unwritten.add(id(row))
        return await self._give_id(row)

    async def assign_id(self, row: SQLModel) -> int:
        """Add a new row and give it its id now, before it is written.

        The id is taken up front, so the row is inserted once with its id and every row of a
        batch in one statement, at flush. PostgreSQL: from the table's own sequence (reserved in
        blocks, see `expect`). SQLite has no sequences, but a write transaction holds the
        database's only write lock from its first statement (BEGIN IMMEDIATE, `hub.db.engine`),
        so the ids after the table's largest are this transaction's to give: read once per
        table, then counted here (rows added without an id get theirs the same way at flush,
        `_number_new_rows`, so none takes one given out and not yet written).
        """
        self.session.add(row)
        return await self._give_id(row)

    async def _give_id(self, row: SQLModel) -> int:
        table = row.__tablename__  # type: ignore[attr-defined]
        if not self._ids and not self._next_ids:
            # Rows with reserved ids are written table by table at flush, not parents first:
            # foreign keys are checked at commit (PostgreSQL: they are DEFERRABLE, see
            # hub.db.tables; SQLite: for this transaction only, `defer_foreign_keys`).
            await self._defer_foreign_keys()
        if self.ctx.engine.dialect.name == "postgresql":
            pool = self._ids.setdefault(table, deque())
            if not pool:
                pool.extend(await self._reserve(table, self._id_blocks.get(table, 1)))
            given = pool.popleft()
        else:
            given = await self._next_sqlite_id(table)
        # Straight into the row's attributes: a new row has no history for the ORM to keep (and
        # an INSERT reads the attributes), and setting it through the ORM and pydantic costs
        # twenty times as much, once for every new row of a batch.
        row.__dict__["id"] = given
        return given

    async def _defer_foreign_keys(self) -> None:
        conn = await self.session.connection()
        if self.ctx.engine.dialect.name == "postgresql":
            await conn.execute(text("SET CONSTRAINTS ALL DEFERRED"))
        else:
            await conn.execute(text("PRAGMA defer_foreign_keys = ON"))  # until this COMMIT or ROLLBACK
            sa_event.listen(self.session.sync_session, "before_flush", self._number_new_rows)

    async def _next_sqlite_id(self, table: str) -> int:
        if table not in self._next_ids:
            conn = await self.session.connection()
            self._next_ids[table] = (await conn.execute(text(f'SELECT coalesce(max(id), 0) FROM "{table}"'))).scalar_one() + 1
        self._next_ids[table] += 1
        return self._next_ids[table] - 1

    def _number_new_rows(self, session: Any, _context: Any, _instances: Any) -> None:
        # A new row without an id in a table this transaction counts ids for (SQLite): SQLite
        # would give it the largest written id + 1, which may be one handed out already.
        for row in session.new:
            table = getattr(row, "__tablename__", None)
            if table in self._next_ids and getattr(row, "id", 0) is None:
                row.id = self._next_ids[table]
                self._next_ids[table] += 1

    async def _reserve(self, table: str, count: int) -> list[int]:
        stmt = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)")
        conn = await self.session.connection()
        return sorted((await conn.execute(stmt, {"table": table, "n": count})).scalars())

    def keep(self, row: SQLModel) -> None:
        """Write this row's changes with the transaction: `session.add` for a row from elsewhere
        (a row read or added in this transaction is tracked already, and `add` walks every
        attribute of its class again, each time: a batch changes its tickets several times)."""
        if id(row) not in self._unwritten and row not in self.session:
            self.session.add(row)

    def emit(self, event: events.Announcement) -> None:
        """Announce this after commit (never if the transaction rolls back)."""
        self.emitted.append(event)

    def append(self, table: Any, values: dict[str, Any]) -> None:
        """A new append-only row (every column but the id), written with this transaction (see
        `_appended`). Rows of one table must give the same columns."""
        self._appended.setdefault(table, []).append(values)

    def add_event(
        self, ticket_id: int | None, kind: str, at: datetime, channel: str, agent_id: int | None, data: dict[str, Any],
    ) -> None:
        """An `events` row, written with this transaction (see `_appended`)."""
        self.append(_EVENTS, {"ticket_id": ticket_id, "kind": kind, "at": at, "channel": channel, "agent_id": agent_id,
                              "data": data})

    def record(self, ticket: Ticket, event: Event, agent_id: int | None = None) -> None:
        assert ticket.id is not None
        self.add_event(ticket.id, event.kind.value, event.at, ticket.channel,
                       agent_id if agent_id is not None else event.data.get("agent_id"), dict(event.data))
        # Whose ticket it is travels along: an agent's tabs tell their own consultations' news
        # (the unread count, the sound) without asking the server about every notice.
        self.emit(events.recorded(event.kind, ticket.id, ticket.assignee_id, event.data))

    def transition(self, ticket: Ticket, inp: Input) -> Transition:
        """Run the pure lifecycle on a row, write the new state back and record the events."""
        try:
            result = apply(state_of(ticket), inp, self.now, self.ctx.policy)
        except IllegalTransition as exc:
            raise Conflict(str(exc)) from exc
        if result.state.assignee_id != ticket.assignee_id or result.state.status.value != ticket.status:
            self.cache.pop("agent_loads", None)  # someone's load may have changed
        write_state(ticket, result.state, self.now)
        self.keep(ticket)
        for event in result.events:
            self.record(ticket, event)
        self.emit(events.TicketChanged(ticket.id))
        return result

    async def queue_delivery(self, message: Message) -> Outbox:
        """Schedule an outbound message for delivery (same transaction as its cause)."""
        assert message.id is not None
        row = new_row(Outbox, message_id=message.id, channel=message.channel, next_attempt_at=self.now, created_at=self.now)
        await self.add_new(row)
        self._outbox.append(row)
        return row


_KEYS: dict[Any, tuple[str, ...]] = {}


def _keys(table: Any) -> tuple[str, ...]:
    """Every column of a table: each new row's value is read off its attributes (`new_row` sets every field)."""
    keys = _KEYS.get(table)
    if keys is None:
        keys = _KEYS[table] = tuple(column.key for column in table.columns)
    return keys


def state_of(ticket: Ticket) -> TicketState:
    return TicketState(
        status=Status(ticket.status),
        assignee_id=ticket.assignee_id,
        due_at=ticket.due_at,
        due_kind=DueKind(ticket.due_kind) if ticket.due_kind else None,
        queued_at=ticket.queued_at,
        identified_at=ticket.identified_at,
        first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
        reminded_at=ticket.reminded_at,
    )


def write_state(ticket: Ticket, state: TicketState, now: datetime) -> None:
    ticket.status = state.status.value
    ticket.assignee_id = state.assignee_id
    ticket.due_at = state.due_at
    ticket.due_kind = state.due_kind.value if state.due_kind else None
    ticket.queued_at = state.queued_at
    ticket.identified_at = state.identified_at
    ticket.first_response_at = state.first_response_at
    ticket.resolved_at = state.resolved_at
    ticket.closed_at = state.closed_at
    ticket.reminded_at = state.reminded_at
    ticket.updated_at = now
    ticket.version += 1
