"""What an action needs from the outside world, in one object: database, clock, bus, settings, files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.bus import Bus
from hub.clock import Clock, SystemClock
from hub.config import Settings
from hub.db.engine import make_engine, make_read_sessionmaker, make_sessionmaker
from hub.db.fast import InboxWriter
from hub.delivery import ChannelFacts
from hub.storage import FileStore, make_store
from hub.tickets import Policy


@dataclass
class HubContext:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock = field(default_factory=SystemClock)
    bus: Bus = field(default_factory=Bus)
    # What each channel declares of itself (its sender's `facts`, read when asked: settings may
    # change); filled by the composition root when it wires the context. None: the defaults.
    channel_facts: dict[str, Callable[[], ChannelFacts]] = field(default_factory=dict)
    # Sessions for reads that write nothing (`hub.db.engine.make_read_sessionmaker`); the same
    # as `sessionmaker` when not given.
    reads: async_sessionmaker[AsyncSession] = None  # type: ignore[assignment]
    _inbox_writer: InboxWriter | None = field(default=None, repr=False)
    _files: FileStore | None = field(default=None, repr=False)

    @classmethod
    def create(cls, settings: Settings, clock: Clock | None = None) -> "HubContext":
        engine = make_engine(settings.effective_database_url)
        return cls(settings, engine, make_sessionmaker(engine), clock or SystemClock(),
                   reads=make_read_sessionmaker(engine))

    def __post_init__(self) -> None:
        if self.reads is None:
            self.reads = self.sessionmaker

    @property
    def policy(self) -> Policy:
        return Policy(
            reminder_after=self.settings.reminder_after,
            close_after=self.settings.unidentified_close_after,
            idle_close_after=self.settings.idle_close_after or None,
        )

    def facts(self, channel: str) -> ChannelFacts:
        """What `channel` declares (its address, a held-reply notice, sandbox mode)."""
        get = self.channel_facts.get(channel)
        return get() if get is not None else ChannelFacts()

    @property
    def files(self) -> FileStore:
        """Where attachment files live (`HUB_ATTACHMENTS`, hub/storage.py)."""
        if self._files is None or self._files.name != self.settings.attachments:
            self._files = make_store(self.settings.attachments, self.settings.data_dir, self.engine)
        return self._files

    def inbox_writer(self) -> InboxWriter:
        """The lean webhook insert (PostgreSQL only; see hub.db.fast)."""
        if self._inbox_writer is None:
            self._inbox_writer = InboxWriter(self.settings.effective_database_url)
        return self._inbox_writer

    async def close(self) -> None:
        if self._inbox_writer is not None:
            await self._inbox_writer.close()
        await self.engine.dispose()
