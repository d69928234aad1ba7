"""Where attachment files live: the only code that writes, reads or deletes their bytes.

A file's key is the SHA-256 of its bytes (content-addressed): the same photo sent twice is kept
once, and a key never names two contents. `HUB_ATTACHMENTS` chooses the store:

- `local` (the default): `HUB_DATA_DIR/attachments/<sha256>` on this host's disk. Enough when
  every process runs on one machine (`hub run`).
- `database`: the `stored_files` and `file_chunks` tables (meant for PostgreSQL), so a file that
  one host received (`hub worker` fetching WhatsApp media, `hub mailbox` reading mail) is served
  by every `hub web` host.

Files are streamed, never held whole in memory where that can be avoided: a download is staged
in a temporary file while its type and size are checked, then kept one `CHUNK` per statement;
reading yields one chunk per query, each on a connection taken from the pool and given back at
once, so a slow download holds no database connection between chunks. (Email attachments come
inside a mail the parser already holds whole; they are written from memory.)

A file is kept in the transaction that records the attachment pointing to it (`keep` and `put`
run on that transaction's session), and an erasure deletes it in the transaction that erases the
attachment (`hold` the files, look for other references, `forget`); on a local disk, where
nothing can be undone, only after that transaction committed (`forget_after_commit`).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
import os
import re
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.db.tables import FileChunk, StoredFile

CHUNK = 256 * 1024  # bytes per database row and per read: what one file costs in memory at a time
_SHA = re.compile(r"^[0-9a-f]{64}$")


class FileMissing(LookupError):
    """No file under this key (never stored, or erased since)."""


def checked(sha256: str) -> str:
    """A key is a checksum, nothing else: no path or SQL is ever built from anything more."""
    if not isinstance(sha256, str) or not _SHA.match(sha256):
        raise ValueError(f"not a SHA-256 file key: {sha256!r}")
    return sha256


def _read_pieces(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while piece := fh.read(CHUNK):
            yield piece


class FileStore(ABC):
    """What every store does (see the module's docstring); `LocalFiles` and `DatabaseFiles`."""

    name = ""

    @abstractmethod
    def staging_dir(self) -> Path:
        """Where a file being received is staged before `keep` (the same disk as local files)."""

    @abstractmethod
    async def keep(self, session: AsyncSession, sha256: str, staged: Path) -> None:
        """Keep the staged file under its checksum, inside the caller's transaction; the staged
        file is gone afterwards either way."""

    @abstractmethod
    async def put(self, sha256: str, data: bytes, session: AsyncSession | None = None) -> None:
        """Keep bytes already in memory (write-once: nothing happens if the file is there):
        inside `session`'s transaction when given (an agent's reply), else on its own."""

    @abstractmethod
    async def size(self, sha256: str) -> int | None:
        """The file's size, or None when there is no such file."""

    @abstractmethod
    def chunks(self, sha256: str) -> AsyncIterator[bytes]:
        """The file's bytes, piece by piece; FileMissing if it is not (or no longer) there."""

    async def read(self, sha256: str) -> bytes:
        """The whole file, for the few that need it whole (an email attachment being sent)."""
        return b"".join([piece async for piece in self.chunks(sha256)])

    async def hold(self, session: AsyncSession, shas: Iterable[str]) -> None:
        """Before an erasure looks whether anything still points to these files: wait for any
        transaction keeping one of them now, and keep others from keeping them until it ends."""

    async def forget(self, session: AsyncSession, shas: Iterable[str]) -> int:
        """Delete files inside the caller's transaction (a rollback keeps them); how many."""
        return 0

    def forget_after_commit(self, shas: Iterable[str]) -> int:
        """Delete files once the erasing transaction committed (where deleting cannot be undone)."""
        return 0


class LocalFiles(FileStore):
    name = "local"

    def __init__(self, data_dir: Path) -> None:
        self.folder = Path(data_dir) / "attachments"

    def path(self, sha256: str) -> Path:
        return self.folder / checked(sha256)

    def staging_dir(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder  # a rename within one folder is atomic

    async def keep(self, session: AsyncSession, sha256: str, staged: Path) -> None:
        final = self.path(sha256)
        if final.exists():
            staged.unlink(missing_ok=True)
        else:
            os.replace(staged, final)

    async def put(self, sha256: str, data: bytes, session: AsyncSession | None = None) -> None:
        final = self.path(sha256)
        if final.is_file() and final.stat().st_size == len(data):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())  # on disk before the transaction that points to it commits
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def size(self, sha256: str) -> int | None:
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    async def chunks(self, sha256: str) -> AsyncIterator[bytes]:  # type: ignore[override]
        try:
            fh = self.path(sha256).open("rb")
        except FileNotFoundError:
            raise FileMissing(sha256) from None
        with fh:
            while piece := await asyncio.to_thread(fh.read, CHUNK):
                yield piece

    def forget_after_commit(self, shas: Iterable[str]) -> int:
        removed = 0
        for sha in shas:
            try:
                self.path(sha).unlink()
                removed += 1
            except (FileNotFoundError, ValueError):
                pass
        return removed


class DatabaseFiles(FileStore):
    name = "database"

    def __init__(self, engine: AsyncEngine, staging: Path) -> None:
        self.engine = engine
        self.staging = staging

    def staging_dir(self) -> Path:
        self.staging.mkdir(parents=True, exist_ok=True)
        return self.staging

    async def _write(self, conn: AsyncConnection, sha256: str, size: int, pieces: Iterator[bytes]) -> None:
        """Insert the file's row, then its chunks one statement each; nothing more if it is there.

        On PostgreSQL the file's row stays locked until the writer's transaction ends, whether
        it was inserted or found: an erasure (`hold`, then its reference check) waits for the
        writer, so it never deletes a file that an attachment committing now points to; and a
        writer that waited for an erasure finds the row gone and writes the file again."""
        row = {"sha256": checked(sha256), "size": size, "created_at": datetime.now(UTC)}
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(StoredFile).values(**row)
            upsert = stmt.on_conflict_do_update(index_elements=["sha256"], set_={"sha256": stmt.excluded.sha256})
            # xmax is 0 on a row this statement inserted, not on one it locked and kept.
            inserted = (await conn.execute(upsert.returning(literal_column("xmax = 0")))).scalar()
        else:  # SQLite: write transactions run one at a time
            from sqlalchemy.dialects.sqlite import insert as lite_insert

            stmt = lite_insert(StoredFile).values(**row).on_conflict_do_nothing(index_elements=["sha256"])
            inserted = (await conn.execute(stmt.returning(StoredFile.sha256))).first() is not None  # type: ignore[attr-defined]
        if not inserted:
            return
        table: Any = FileChunk.__table__
        seq = 0
        while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
            await conn.execute(table.insert().values(sha256=sha256, seq=seq, data=piece))
            seq += 1

    async def keep(self, session: AsyncSession, sha256: str, staged: Path) -> None:
        try:
            await self._write(await session.connection(), sha256, staged.stat().st_size, _read_pieces(staged))
        finally:
            staged.unlink(missing_ok=True)

    async def put(self, sha256: str, data: bytes, session: AsyncSession | None = None) -> None:
        view = memoryview(data)
        pieces = (bytes(view[start:start + CHUNK]) for start in range(0, len(data), CHUNK))
        if session is not None:
            await self._write(await session.connection(), sha256, len(data), pieces)
            return
        async with self.engine.begin() as conn:
            await self._write(conn, sha256, len(data), pieces)

    async def size(self, sha256: str) -> int | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(StoredFile.size).where(  # type: ignore[arg-type]
                StoredFile.sha256 == checked(sha256)))).scalar()

    async def chunks(self, sha256: str) -> AsyncIterator[bytes]:  # type: ignore[override]
        size = await self.size(sha256)
        if size is None:
            raise FileMissing(sha256)
        data: Any = FileChunk.__table__.c.data  # type: ignore[attr-defined]
        key: Any = FileChunk.__table__.c  # type: ignore[attr-defined]
        for seq in range(-(-size // CHUNK)):
            async with self.engine.connect() as conn:  # back to the pool before the piece is sent
                piece = (await conn.execute(select(data).where(key.sha256 == sha256, key.seq == seq))).scalar()
            if piece is None:
                raise FileMissing(sha256)  # erased while it was being read
            yield bytes(piece)

    async def hold(self, session: AsyncSession, shas: Iterable[str]) -> None:
        keys = sorted({checked(s) for s in shas})
        if keys and session.bind.dialect.name == "postgresql":
            files: Any = StoredFile.__table__
            await (await session.connection()).execute(
                select(files.c.sha256).where(files.c.sha256.in_(keys)).order_by(files.c.sha256).with_for_update())

    async def forget(self, session: AsyncSession, shas: Iterable[str]) -> int:
        keys = [checked(s) for s in shas]
        if not keys:
            return 0
        conn = await session.connection()
        table: Any = FileChunk.__table__
        await conn.execute(delete(table).where(table.c.sha256.in_(keys)))
        files: Any = StoredFile.__table__
        gone = await conn.execute(delete(files).where(files.c.sha256.in_(keys)))
        return int(gone.rowcount or 0)


def make_store(kind: str, data_dir: Path, engine: AsyncEngine) -> FileStore:
    if kind == "database":
        return DatabaseFiles(engine, Path(data_dir) / "staging")
    return LocalFiles(data_dir)

