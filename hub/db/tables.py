"""Every table of the hub, in one place. Schema changes go through alembic (hub/db/migrations).

Only `hub.actions` writes the tables that carry the ticket lifecycle (tickets, messages, events,
outbox); channels and the web layer call actions instead of writing rows themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel, col

from hub.db.types import JSONData, UTCDateTime


def _when(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


def _json(default_factory: Any = dict) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSONData, nullable=False))


class Agent(SQLModel, table=True):
    __tablename__ = "agents"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str = Field(max_length=200)
    password_hash: str = Field(default="", max_length=500)
    role: str = Field(default="agent", max_length=20)  # agent | manager | admin
    presence: str = Field(default="offline", max_length=20)  # available | away | offline
    capacity: int = Field(default=5)
    active: bool = Field(default=True)
    language: str = Field(default="ca", max_length=8)
    last_assigned_at: datetime | None = _when(default=None)
    presence_changed_at: datetime | None = _when(default=None)
    created_at: datetime = _when()
    # Sessions opened before this moment are over (a password change or reset ends them).
    password_changed_at: datetime | None = _when(default=None)
    # Two-factor sign-in (TOTP): the base32 secret, and when its enrolment was confirmed.
    totp_secret: str = Field(default="", max_length=64)
    totp_enabled_at: datetime | None = _when(default=None)
    # Managers who asked for last week's key figures by email on the office's first working day.
    weekly_summary: bool = Field(default=False)
    # Added under the agent's email replies (plain text; empty: none).
    signature: str = Field(default="", sa_type=Text)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agents.id", index=True)
    token_hash: str = Field(max_length=128, unique=True)
    created_at: datetime = _when()
    last_used_at: datetime | None = _when(default=None)
    revoked_at: datetime | None = _when(default=None)


class RecoveryCode(SQLModel, table=True):
    """Single-use codes for signing in without the authenticator app (only a hash is kept)."""

    __tablename__ = "recovery_codes"

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agents.id", index=True)
    code_hash: str = Field(max_length=128, unique=True)
    created_at: datetime = _when()
    used_at: datetime | None = _when(default=None)


class LoginThrottle(SQLModel, table=True):
    """Failed sign-in counters when there is no Redis (agent_ui/throttle.py): one row per key."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=100)
    count: int = Field(default=0)
    expires_at: int = Field(default=0, sa_type=BigInteger)  # unix seconds: compared in one SQL statement


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(default="", max_length=200)  # what the citizen told us (agents may correct it)
    display_hint: str = Field(default="", max_length=200)  # e.g. WhatsApp ProfileName: unverified
    language: str = Field(default="ca", max_length=8)
    merged_into_id: int | None = Field(default=None, foreign_key="contacts.id")
    erased_at: datetime | None = _when(default=None)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class Identity(SQLModel, table=True):
    """How a contact is reached: `phone` (E.164), `email` (lower-cased), `whatsapp_user` (BSUID)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_identities_kind_value"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    kind: str = Field(max_length=30)
    value: str = Field(max_length=320)
    created_at: datetime = _when()


class Ticket(SQLModel, table=True):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
        Index("ix_tickets_contact_created", "contact_id", "created_at"),
        Index("ix_tickets_channel_status", "channel", "status"),
        Index("ix_tickets_created", "created_at"),
        # Timers: only rows with a pending timer are in this index, so 100,000 of them cost one
        # index range scan per sweep and nothing else.
        Index("ix_tickets_due", "due_at", postgresql_where=text("due_at IS NOT NULL"),
              sqlite_where=text("due_at IS NOT NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str | None = Field(default=None, max_length=40, unique=True)
    contact_id: int = Field(foreign_key="contacts.id")
    channel: str = Field(max_length=20)
    kind: str = Field(default="consultation", max_length=20)  # consultation | callback
    status: str = Field(max_length=30)
    priority: int = Field(default=0)  # higher first
    subject: str = Field(default="", max_length=300)
    assignee_id: int | None = Field(default=None, foreign_key="agents.id")
    created_at: datetime = _when()
    updated_at: datetime = _when()
    queued_at: datetime | None = _when(default=None)
    identified_at: datetime | None = _when(default=None)
    first_response_at: datetime | None = _when(default=None)
    resolved_at: datetime | None = _when(default=None)
    closed_at: datetime | None = _when(default=None)
    reminded_at: datetime | None = _when(default=None)
    last_inbound_at: datetime | None = _when(default=None)
    last_activity_at: datetime | None = _when(default=None)
    due_at: datetime | None = _when(default=None)
    due_kind: str | None = Field(default=None, max_length=20)
    version: int = Field(default=1)  # optimistic concurrency: every update bumps it
    anonymised_at: datetime | None = _when(default=None)  # contents removed (erasure or retention)


# The queue: open tickets by priority then longest wait, in that order (its lanes and the next
# ticket read their first rows off the index, no sort).
Index("ix_tickets_queue", col(Ticket.status), col(Ticket.priority).desc(), col(Ticket.queued_at), col(Ticket.id))


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_id", name="uq_messages_channel_provider_id"),
        Index("ix_messages_ticket_created", "ticket_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id")
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    channel: str = Field(max_length=20)
    direction: str = Field(max_length=10)  # in | out | note
    kind: str = Field(default="text", max_length=20)  # text | auto | template | location | ...
    body: str = Field(default="")
    body_html: str = Field(default="")  # sanitised HTML (email), never raw
    provider_id: str | None = Field(default=None, max_length=998)
    status: str = Field(default="received", max_length=20)
    error_code: str | None = Field(default=None, max_length=20)
    error_detail: str | None = Field(default=None, max_length=500)
    author_agent_id: int | None = Field(default=None, foreign_key="agents.id")
    meta: dict[str, Any] = _json()
    created_at: datetime = _when()
    status_at: datetime | None = _when(default=None)


class Attachment(SQLModel, table=True):
    __tablename__ = "attachments"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id", index=True)
    filename: str = Field(default="", max_length=300)
    content_type: str = Field(default="application/octet-stream", max_length=200)
    size: int | None = Field(default=None)
    sha256: str | None = Field(default=None, max_length=64)
    storage_key: str | None = Field(default=None, max_length=300)
    source_url: str | None = Field(default=None, max_length=2000)  # still to be fetched
    status: str = Field(default="stored", max_length=20)  # pending | stored | rejected | failed
    reason: str | None = Field(default=None, max_length=300)
    inline: bool = Field(default=False)
    created_at: datetime = _when()


class StoredFile(SQLModel, table=True):
    """A file kept in the database (`HUB_ATTACHMENTS=database`, see hub/storage.py), by checksum:
    attachments point to it through their `sha256`. Its bytes are `file_chunks` rows."""

    __tablename__ = "stored_files"

    sha256: str = Field(primary_key=True, max_length=64)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _when()


class FileChunk(SQLModel, table=True):
    """One piece of a stored file, `seq` from 0; every piece but the last is `hub.storage.CHUNK` bytes."""

    __tablename__ = "file_chunks"

    sha256: str = Field(sa_column=Column(String(64), primary_key=True))  # its `stored_files` row
    seq: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Call(SQLModel, table=True):
    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_started", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="tickets.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contacts.id", index=True)
    provider_id: str | None = Field(default=None, max_length=64, unique=True)  # Twilio CallSid
    number: str = Field(default="", max_length=40)  # E.164 or "anonymous"
    direction: str = Field(default="inbound", max_length=10)  # inbound | outbound
    state: str = Field(default="ended", max_length=20)  # ringing | in_progress | ended
    outcome: str | None = Field(default=None, max_length=20)  # answered | missed | voicemail | busy
    started_at: datetime = _when()
    answered_at: datetime | None = _when(default=None)
    ended_at: datetime | None = _when(default=None)
    duration_s: int | None = Field(default=None)  # talking time
    wait_s: int | None = Field(default=None)
    topic: str = Field(default="", max_length=200)
    notes: str = Field(default="")
    agent_id: int | None = Field(default=None, foreign_key="agents.id")
    done: bool = Field(default=True)  # a missed call is not done until it is called back
    last_sequence: int = Field(default=-1)
    created_at: datetime = _when()


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_ticket_at", "ticket_id", "at"),
        Index("ix_events_at_kind", "at", "kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="tickets.id")
    kind: str = Field(max_length=40)
    at: datetime = _when()
    channel: str | None = Field(default=None, max_length=20)
    agent_id: int | None = Field(default=None, foreign_key="agents.id")
    data: dict[str, Any] = _json()


class Outbox(SQLModel, table=True):
    """A message to deliver. Written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id", unique=True)
    channel: str = Field(max_length=20)
    status: str = Field(default="pending", max_length=20)  # pending | sending | sent | failed
    attempts: int = Field(default=0)
    next_attempt_at: datetime = _when()
    lease_until: datetime | None = _when(default=None)
    # An attempt may have reached the provider without our knowing (its worker died, or it
    # timed out): the next attempt asks the provider first (hub.actions.outbox).
    uncertain: bool = Field(default=False)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = _when()
    sent_at: datetime | None = _when(default=None)


class Inbox(SQLModel, table=True):
    """Inbound messages accepted by a webhook, committed before the provider gets its 200.

    The webhook stores the parsed message here (fast, one insert); a worker turns it into a
    ticket message. A duplicate delivery hits the unique constraint and changes nothing.
    `sender` (the channel and the sender's first identity) orders the work: a row is processed
    only when no earlier row of its sender is unprocessed (`hub.actions.messages`).
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "provider_id", name="uq_inbox_channel_provider_id"),
        Index("ix_inbox_pending", "processed_at", "id"),
        Index("ix_inbox_sender_pending", "sender", "id", postgresql_where=text("processed_at IS NULL"),
              sqlite_where=text("processed_at IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    provider_id: str = Field(max_length=998)
    sender: str | None = Field(default=None, max_length=400)
    payload: dict[str, Any] = _json()
    received_at: datetime = _when()
    processed_at: datetime | None = _when(default=None)
    attempts: int = Field(default=0)
    error: str | None = Field(default=None, max_length=500)


class SurveyResponse(SQLModel, table=True):
    __tablename__ = "survey_responses"
    __table_args__ = (Index("ix_survey_responses_answered", "answered_at"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", unique=True)
    agent_id: int | None = Field(default=None, foreign_key="agents.id")
    channel: str = Field(max_length=20)
    token_hash: str = Field(max_length=128, unique=True)
    created_at: datetime = _when()
    expires_at: datetime = _when()
    answered_at: datetime | None = _when(default=None)
    rating: int | None = Field(default=None)
    comment: str = Field(default="")


class Text(SQLModel, table=True):
    """A manager's override of an automatic text, per language."""

    __tablename__ = "texts"
    __table_args__ = (UniqueConstraint("key", "language", name="uq_texts_key_language"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=60)
    language: str = Field(max_length=8)
    body: str = Field(default="")
    updated_at: datetime = _when()
    updated_by: int | None = Field(default=None, foreign_key="agents.id")


class Topic(SQLModel, table=True):
    """What consultations are about (a procedure such as the padró): a list managers keep.

    Topics are switched off, never deleted, so statistics of past consultations keep their names.
    """

    __tablename__ = "topics"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=60, unique=True)  # stable slug, e.g. "padro"
    names: dict[str, Any] = _json()  # language -> name; "ca" always present
    active: bool = Field(default=True)
    position: int = Field(default=0)  # order in pickers
    created_at: datetime = _when()
    updated_at: datetime = _when()


class TicketTopic(SQLModel, table=True):
    """A consultation is about a topic (one consultation may have several)."""

    __tablename__ = "ticket_topics"
    __table_args__ = (Index("ix_ticket_topics_topic_ticket", "topic_id", "ticket_id"),)

    ticket_id: int = Field(foreign_key="tickets.id", primary_key=True)
    topic_id: int = Field(foreign_key="topics.id", primary_key=True)
    agent_id: int | None = Field(default=None, foreign_key="agents.id")  # None: set automatically
    created_at: datetime = _when()


class EntryPoint(SQLModel, table=True):
    """A WhatsApp click-to-chat link managers hand to the city's web pages, posters and counters:
    its prefilled first message tells us where a citizen came from (hub/entry_points.py).

    Switched off, never deleted: statistics of past consultations keep their label."""

    __tablename__ = "entry_points"

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(max_length=120)  # for managers: "Padró web page", "Poster at the OAC counter"
    prefill: str = Field(max_length=200)  # the citizen's first message, as the link types it
    prefill_key: str = Field(max_length=200, unique=True)  # how it is matched (two may not read alike)
    topic_id: int | None = Field(default=None, foreign_key="topics.id")  # set on its consultations
    active: bool = Field(default=True)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class TicketEntryPoint(SQLModel, table=True):
    """The entry point a consultation came through (at most one: its first message's)."""

    __tablename__ = "ticket_entry_points"
    __table_args__ = (Index("ix_ticket_entry_points_entry_ticket", "entry_point_id", "ticket_id"),)

    ticket_id: int = Field(foreign_key="tickets.id", primary_key=True)
    entry_point_id: int = Field(foreign_key="entry_points.id")
    created_at: datetime = _when()


class TicketSeen(SQLModel, table=True):
    """What an agent has seen of a consultation: the newest citizen message shown to them.

    Unread = the citizen's messages after `message_id` (a message id, not a time: a message whose
    provider time is earlier than the moment the agent looked, delivered late, is still new).
    Kept on the server, so the count survives a reload and follows the agent to other devices.
    """

    __tablename__ = "ticket_seen"

    agent_id: int = Field(foreign_key="agents.id", primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", primary_key=True)
    message_id: int = Field(default=0, sa_type=BigInteger)  # 0: nothing seen yet
    seen_at: datetime = _when()


class CannedResponse(SQLModel, table=True):
    """A quick reply: shared ones (owner None) kept by managers, personal ones by their agent."""

    __tablename__ = "canned_responses"
    __table_args__ = (Index("ix_canned_responses_owner", "owner_id"),)

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=120)
    body: str = Field(default="")
    language: str = Field(default="ca", max_length=8)
    shortcut: str = Field(default="", max_length=40)
    owner_id: int | None = Field(default=None, foreign_key="agents.id")
    created_at: datetime = _when()
    updated_at: datetime = _when()


class Option(SQLModel, table=True):
    """Settings managers can change at run time (the environment gives the defaults)."""

    __tablename__ = "options"

    key: str = Field(primary_key=True, max_length=60)
    value: Any = Field(sa_column=Column(JSONData, nullable=True))
    updated_at: datetime = _when()


class AuditEntry(SQLModel, table=True):
    """Append-only trail of what staff did."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when()
    agent_id: int | None = Field(default=None, foreign_key="agents.id")
    action: str = Field(max_length=60)
    target_type: str = Field(default="", max_length=30)
    target_id: str = Field(default="", max_length=60)
    detail: dict[str, Any] = _json()


# Statistics roll-ups (hub/rollups.py writes them; see docs/metrics.md) ----------------------

STATS_BINS = 36  # histogram buckets, hours of the day or ratings, depending on the metric


def _stats_table(name: str, period: str, *extra: Any) -> Any:
    from sqlalchemy import BigInteger, Date, Integer, String, Table

    return Table(
        name, SQLModel.metadata,
        Column(period, Date, primary_key=True),  # the office's local date (a month: its first day)
        Column("channel", String(20), primary_key=True),
        Column("agent_id", Integer, primary_key=True),  # 0: attributed to no agent
        Column("metric", String(30), primary_key=True),
        Column("n", Integer, nullable=False, server_default="0"),
        Column("total", BigInteger, nullable=False, server_default="0"),
        *[Column(f"b{i:02d}", Integer, nullable=False, server_default="0") for i in range(STATS_BINS)],
        *extra,
    )


stats_daily = _stats_table("stats_daily", "day", Index("ix_stats_daily_metric_day", "metric", "day"))
# The sum of a month's daily rows (of its built days): a year is 12 short scans, not 365.
stats_monthly = _stats_table("stats_monthly", "month")
# The same cells per topic (a consultation with two topics counts for each): trends by topic
# come from here, not from the tickets table.
stats_daily_topic = _stats_table("stats_daily_topic", "day", Column("topic_id", Integer, primary_key=True),
                                 Index("ix_stats_daily_topic_topic_metric_day", "topic_id", "metric", "day"))
# A month's per-topic daily rows added up: the key figures filtered by topic read a year as 12
# months of one topic's rows, like the unfiltered ones read stats_monthly.
stats_monthly_topic = _stats_table("stats_monthly_topic", "month", Column("topic_id", Integer, primary_key=True))
# The same cells per WhatsApp entry point (a consultation came through one at most), the
# By-entry-point table's: `topic_id` 0 holds all of an entry point's consultations, a topic's id
# those of them about that topic (the table filtered by topic).
stats_daily_entry_point = _stats_table(
    "stats_daily_entry_point", "day", Column("entry_point_id", Integer, primary_key=True),
    Column("topic_id", Integer, primary_key=True))
stats_monthly_entry_point = _stats_table(
    "stats_monthly_entry_point", "month", Column("entry_point_id", Integer, primary_key=True),
    Column("topic_id", Integer, primary_key=True))


class WeeklySummary(SQLModel, table=True):
    """One manager's weekly summary of one week: the row is claimed (inserted) before the mail
    is sent, and its unique key is what makes it go once, however many schedulers run."""

    __tablename__ = "weekly_summaries"
    __table_args__ = (UniqueConstraint("week", "agent_id", name="uq_weekly_summaries_week_agent"),)

    id: int | None = Field(default=None, primary_key=True)
    week: date  # the Monday of the week summarised
    agent_id: int = Field(foreign_key="agents.id")
    claimed_at: datetime = _when()
    sent_at: datetime | None = _when(default=None)


class StatsDay(SQLModel, table=True):
    """An office day whose `stats_daily` rows are built (days not listed are computed live)."""

    __tablename__ = "stats_days"

    day: date = Field(primary_key=True)
    built_at: datetime = _when()
    # Set while the day is still running: its rows cover only the facts before this instant.
    partial_until: datetime | None = _when(default=None)


class MailboxState(SQLModel, table=True):
    """Where the mail poller stands in each mailbox: resume by UID, within one UIDVALIDITY.

    Channel bookkeeping, not ticket data: `channels/email` writes it (after the tickets of the
    mails up to `last_uid` are committed), and `/readyz` can read the last error from any process.
    """

    __tablename__ = "mailbox_state"

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = Field(max_length=400, unique=True)  # user@host:port/folder
    uidvalidity: int = Field(default=0, sa_type=BigInteger)
    last_uid: int = Field(default=0, sa_type=BigInteger)
    last_ok_at: datetime | None = _when(default=None)
    last_error: str | None = Field(default=None, max_length=500)
    updated_at: datetime = _when()


def _deferrable_foreign_keys() -> None:
    """On PostgreSQL every foreign key may be checked at commit instead of at each statement.

    `INITIALLY IMMEDIATE` keeps the usual behaviour. A transaction that gives new rows ids
    reserved up front (`UnitOfWork.assign_id`) defers the checks: the ORM inserts unrelated
    classes in no particular order (our tables declare no relationships), and with every row
    written in one flush, table by table, a child may come before its parent. Integrity is
    still checked, at commit. SQLite's tables keep immediate keys (migration core_0002; see
    tests/integration/hub/test_migrations.py); a transaction giving ids up front defers them
    for itself (`PRAGMA defer_foreign_keys`).
    """
    for table in SQLModel.metadata.tables.values():
        for constraint in table.foreign_key_constraints:
            constraint.deferrable = True
            constraint.initially = "IMMEDIATE"


_deferrable_foreign_keys()


_T = TypeVar("_T", bound=SQLModel)
# Per table model: its field names, and each optional field's default as a function of nothing.
_FIELDS: dict[type, tuple[frozenset[str], list[tuple[str, Callable[[], Any]]]]] = {}
_IMMUTABLE = (type(None), bool, int, float, str, bytes)


def _default_of(field: Any) -> Callable[[], Any]:
    """What `field.get_default(call_default_factory=True)` gives, without its cost: pydantic asks
    `inspect.signature` of a default factory on every call (~40 us: a message has one)."""
    factory = field.default_factory
    if factory is None:
        if type(field.default) in _IMMUTABLE:  # given as is (a mutable default is copied: kept below)
            return lambda value=field.default: value
    elif not field.default_factory_takes_validated_data:
        return factory  # type: ignore[no-any-return]
    return lambda: field.get_default(call_default_factory=True)


def new_row(model: type[_T], **values: Any) -> _T:
    """`model(**values)` for a row about to be inserted, at a fifth of the CPU.

    A table model's constructor sets each field through both SQLAlchemy's attribute events and
    pydantic's `__setattr__` (table models are not validated, so that is all it does): about
    0.1 ms a row, and a batch of inbound messages builds several rows per message. Here the
    instance gets its SQLAlchemy state and the same attribute values, defaults and pydantic
    bookkeeping directly; the `init` event still fires. What differs is only the attribute
    history of a transient object, which an INSERT does not read. For new rows on hot paths;
    tests/integration/hub/test_new_row.py checks it builds what the constructor builds, for every table.
    """
    fields = _FIELDS.get(model)
    if fields is None:  # (pydantic's `model_fields` on the class is slow to ask)
        every = model.model_fields
        fields = _FIELDS[model] = frozenset(every), [(n, _default_of(f)) for n, f in every.items() if not f.is_required()]
    names, defaults = fields
    row = model.__new__(model)
    manager = model._sa_class_manager  # type: ignore[attr-defined]
    # What `manager._new_state_if_none` does for a fresh instance, without its `hasattr` probe
    # (on a pydantic model a missing attribute costs two raised AttributeErrors).
    state = manager._state_constructor(row, manager)
    manager._state_setter(row, state)
    manager.dispatch.init(state, (), values)
    data = row.__dict__
    for name, default in defaults:
        if name not in values:
            data[name] = default()
    given = values.keys() & names
    data.update((name, values[name]) for name in given)
    object.__setattr__(row, "__pydantic_fields_set__", set(given))
    object.__setattr__(row, "__pydantic_extra__", None)
    object.__setattr__(row, "__pydantic_private__", None)
    return row
