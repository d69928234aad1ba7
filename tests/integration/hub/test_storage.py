"""Where attachment files live (hub/storage.py): on this host's disk, or in the database, streamed.

`HUB_ATTACHMENTS=database` keeps files in `stored_files`/`file_chunks`, so every host serves
what any host received (the multi-process proof is tests/e2e/topology). Here: both stores keep,
read, dedupe and forget files the same way, and neither holds a whole file in memory while
keeping or serving it (measured with tracemalloc, a file many times the allowed peak).
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from hub.actions.unit import UnitOfWork
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import FileChunk, StoredFile
from hub.storage import CHUNK, FileMissing
from tests.conftest import make_settings

STORES = ["local", "database"]


@pytest.fixture(params=STORES)
async def files_ctx(request: pytest.FixtureRequest, tmp_path: Path, db_url: str) -> AsyncIterator[HubContext]:
    context = HubContext.create(make_settings(tmp_path, db_url, attachments=request.param), FakeClock())
    yield context
    await context.close()


def _stage(ctx: HubContext, data: bytes) -> tuple[Path, str]:
    path = ctx.files.staging_dir() / f".part-{os.urandom(4).hex()}"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


async def _keep(ctx: HubContext, staged: Path, sha: str) -> None:
    async with UnitOfWork(ctx) as uow:
        await ctx.files.keep(uow.session, sha, staged)


async def _rows(ctx: HubContext) -> tuple[int, int]:
    async with ctx.engine.connect() as conn:
        files = (await conn.execute(select(func.count()).select_from(StoredFile))).scalar()
        chunks = (await conn.execute(select(func.count()).select_from(FileChunk))).scalar()
    return int(files or 0), int(chunks or 0)


async def test_a_kept_file_reads_back_in_pieces_once_per_content_and_is_forgotten(files_ctx: HubContext) -> None:
    ctx = files_ctx
    data = os.urandom(3 * CHUNK + 1234)
    staged, sha = _stage(ctx, data)
    await _keep(ctx, staged, sha)
    assert not staged.exists()  # the staged copy is gone once kept
    again, _ = _stage(ctx, data)
    await _keep(ctx, again, sha)  # the same content a second time: kept once
    assert not again.exists()
    await ctx.files.put(sha, data)  # and through `put` (mail attachments): nothing changes
    assert await ctx.files.size(sha) == len(data)
    pieces = [piece async for piece in ctx.files.chunks(sha)]
    assert [len(p) for p in pieces] == [CHUNK, CHUNK, CHUNK, 1234]
    assert b"".join(pieces) == data and await ctx.files.read(sha) == data
    on_disk = list((Path(ctx.settings.data_dir) / "attachments").glob("[0-9a-f]*"))
    if ctx.settings.attachments == "database":
        assert await _rows(ctx) == (1, 4) and not on_disk  # nothing on this host's disk
    else:
        assert [p.name for p in on_disk] == [sha] and await _rows(ctx) == (0, 0)

    empty = hashlib.sha256(b"").hexdigest()
    await ctx.files.put(empty, b"")
    assert await ctx.files.size(empty) == 0 and await ctx.files.read(empty) == b""

    async with UnitOfWork(ctx) as uow:
        removed = await ctx.files.forget(uow.session, [sha, empty])
    removed += ctx.files.forget_after_commit([sha, empty])
    assert removed == 2
    assert await ctx.files.size(sha) is None and await _rows(ctx) == (0, 0)
    with pytest.raises(FileMissing):
        await ctx.files.read(sha)


async def test_a_rolled_back_transaction_keeps_no_file_in_the_database(tmp_path: Path, db_url: str) -> None:
    ctx = HubContext.create(make_settings(tmp_path, db_url, attachments="database"), FakeClock())
    try:
        staged, sha = _stage(ctx, b"%PDF-1.4 " * 100)
        with pytest.raises(RuntimeError):
            async with UnitOfWork(ctx) as uow:
                await ctx.files.keep(uow.session, sha, staged)
                raise RuntimeError("the attachment's row could not be recorded")
        assert await ctx.files.size(sha) is None and await _rows(ctx) == (0, 0)
    finally:
        await ctx.close()


async def test_keys_are_checksums_only(files_ctx: HubContext) -> None:
    for key in ("../secret_key", "a" * 63, "A" * 64, "a" * 64 + "/x", ""):
        with pytest.raises(ValueError):
            await files_ctx.files.size(key)


async def test_keeping_and_serving_a_big_file_never_holds_it_in_memory(files_ctx: HubContext) -> None:
    """24 MB kept and then downloaded through the web app (a real server, read as a stream):
    the process never holds more than a few pieces of it at a time."""
    from entrypoints.web import create_app
    from hub.actions.messages import do_receive_message
    from hub.db.tables import Agent, Attachment
    from hub.inbound import AttachmentIn, IdentityIn, InboundMessage
    from hub.passwords import hash_password
    from tests.support.live_server import LiveServer, login

    ctx = files_ctx
    size = 24 * 1024 * 1024
    staged = ctx.files.staging_dir() / ".part-big"
    digest = hashlib.sha256()
    with staged.open("wb") as fh:
        for n in range(size // CHUNK):
            piece = n.to_bytes(4, "big") * (CHUNK // 4)
            digest.update(piece)
            fh.write(piece)
    sha = digest.hexdigest()
    async with ctx.sessionmaker() as session:
        session.add(Agent(email="agent@example.org", name="Jordi Vidal", role="agent", created_at=ctx.clock.now(),
                          password_hash=hash_password("correct horse battery")))
        await session.commit()
    received = await do_receive_message(ctx, InboundMessage(
        channel="email", provider_id="<big@x>", received_at=ctx.clock.now(), body="annex",
        identities=[IdentityIn("email", "c@citizen.example")],
        attachments=[AttachmentIn(filename="plànol.pdf", content_type="application/pdf", size=size,
                                  storage_key=sha, sha256=sha)],
    ))
    async with ctx.sessionmaker() as session:
        [attachment_id] = (await session.exec(select(Attachment.id).where(  # type: ignore[call-overload]
            Attachment.message_id == received.message_id))).scalars().all()

    # A sixth of the file: room for a few pieces in flight (client, server and socket buffers
    # included: the server runs in this process), where reading it whole would take all 24 MB.
    limit = size // 6
    tracemalloc.start()
    try:
        await _keep(ctx, staged, sha)
        _, kept_peak = tracemalloc.get_traced_memory()
        assert kept_peak < limit, f"keeping a {size} byte file peaked at {kept_peak} bytes"

        # Plain http here, as the browser-less client reaches it (Secure cookies would stay home).
        web = ctx.settings.model_copy(update={"public_url": "http://127.0.0.1:8000"})
        with LiveServer(create_app(web)) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                await login(client, "agent@example.org", "correct horse battery")
                tracemalloc.reset_peak()
                before, _ = tracemalloc.get_traced_memory()
                got, pieces = hashlib.sha256(), 0
                async with client.stream("GET", f"/attachments/{attachment_id}") as response:
                    assert response.status_code == 200
                    assert response.headers["content-length"] == str(size)
                    assert response.headers["content-disposition"].startswith("attachment;")
                    async for piece in response.aiter_raw():
                        got.update(piece)
                        pieces += 1
                _, served_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.hexdigest() == sha and pieces > 1
    assert served_peak - before < limit, f"serving a {size} byte file peaked at {served_peak - before} bytes"


async def test_an_erasure_never_removes_a_file_that_a_mail_committing_now_points_to(tmp_path: Path, db_url: str) -> None:
    """Two citizens send the same scan; one is erased while the other's mail is being recorded.
    The erasure waits for that transaction and then sees the new reference: the file stays."""
    import asyncio

    from hub.actions.messages import do_receive_message
    from hub.actions.privacy import do_erase_contact
    from hub.db.tables import Ticket
    from hub.inbound import AttachmentIn, IdentityIn, InboundMessage

    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite runs one write transaction at a time: there is no interleaving to test")
    ctx = HubContext.create(make_settings(tmp_path, db_url, attachments="database"), FakeClock())
    data = b"%PDF-1.4 the same scanned form"
    sha = hashlib.sha256(data).hexdigest()

    def mail(number: int) -> InboundMessage:
        return InboundMessage(
            channel="email", provider_id=f"<scan-{number}@x>", received_at=ctx.clock.now(), body="annex",
            identities=[IdentityIn("email", f"citizen{number}@example.org")],
            attachments=[AttachmentIn(filename="scan.pdf", content_type="application/pdf", size=len(data),
                                      storage_key=sha, sha256=sha)],
        )

    try:
        first = await do_receive_message(ctx, mail(1), files={sha: data})
        async with ctx.sessionmaker() as session:
            ticket = await session.get(Ticket, first.ticket_id)
        assert ticket is not None
        store = ctx.files
        kept, go_on = asyncio.Event(), asyncio.Event()
        put = store.put

        async def put_then_pause(sha256: str, content: bytes, session: object = None) -> None:
            await put(sha256, content, session)  # type: ignore[arg-type]
            kept.set()
            await go_on.wait()  # the second mail's transaction is open, its file kept, not committed

        store.put = put_then_pause  # type: ignore[method-assign]
        second = asyncio.create_task(do_receive_message(ctx, mail(2), files={sha: data}))
        await asyncio.wait_for(kept.wait(), 10)
        erasure = asyncio.create_task(do_erase_contact(ctx, ticket.contact_id, None))
        await asyncio.sleep(0.5)
        assert not erasure.done()  # it waits for the mail being recorded
        go_on.set()
        await second
        erased = await erasure
        assert erased.files == 0 and await ctx.files.read(sha) == data
    finally:
        await ctx.close()
