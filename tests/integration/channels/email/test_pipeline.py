"""The pipeline (parse -> filters -> core): acknowledgement rules, bounces of our mail, and
arbitrary bytes that never raise out of it (hypothesis, real database)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlmodel import select

from channels.email.config import load_mail_settings
from channels.email.pipeline import Pipeline
from hub.actions.acknowledgements import do_acknowledge
from hub.clock import FakeClock
from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Message, Ticket
from tests.support.email_channel import fixture


def citizen(n: int, sender: str = "citizen@example.cat", **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "oac360@paeria.cat", f"Consulta {n}"
    msg["Message-ID"] = f"<p{n}@example.cat>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Hola")
    return msg.as_bytes()


async def acks(ctx: HubContext) -> list[Message]:
    async with ctx.sessionmaker() as s:
        return [m for m in (await s.exec(select(Message).where(Message.kind == "auto"))).all()
                if m.meta.get("text_key") == "email.ack"]


def pipeline(ctx: HubContext, **overrides: object) -> Pipeline:
    return Pipeline(ctx, load_mail_settings(_env_file=None, **overrides))


async def test_acknowledgements_are_rate_limited_per_sender(ctx: HubContext, clock: FakeClock) -> None:
    p = pipeline(ctx, mail_ack_per_hour=2)
    for n in range(4):
        await p.ingest(citizen(n))
    assert len(await acks(ctx)) == 2  # four consultations, two acknowledgements this hour
    await p.ingest(citizen(10, sender="other@example.cat"))
    assert len(await acks(ctx)) == 3  # another citizen is not limited by the first
    clock.advance(hours=1, seconds=1)
    await p.ingest(citizen(20))
    assert len(await acks(ctx)) == 4


async def test_at_most_one_acknowledgement_per_ticket(ctx: HubContext) -> None:
    outcome = await pipeline(ctx).ingest(citizen(1))
    assert outcome.ticket_id is not None
    assert await do_acknowledge(ctx, outcome.ticket_id) is None  # already acknowledged
    assert len(await acks(ctx)) == 1


async def test_no_acknowledgement_for_automatic_mail_or_when_switched_off(ctx: HubContext) -> None:
    await pipeline(ctx).ingest(citizen(1, Auto_Submitted="auto-replied"))
    await pipeline(ctx).ingest(citizen(2, sender="noreply@bank.example"))
    await pipeline(ctx).ingest(citizen(3, Precedence="bulk"))
    await pipeline(ctx, mail_auto_ack=False).ingest(citizen(4))
    assert await acks(ctx) == []


async def test_a_bounce_of_our_mail_marks_it_failed_on_its_ticket(ctx: HubContext) -> None:
    p = pipeline(ctx)
    first = await p.ingest(citizen(1))
    [ack] = await acks(ctx)
    async with ctx.sessionmaker() as s:  # the ack as the sender recorded it after sending
        row = await s.get(Message, ack.id)
        assert row is not None
        row.provider_id, row.status = "hub.1.abc@paeria.cat", "sent"
        s.add(row)
        await s.commit()
    bounce = fixture("dsn_bounce.eml").replace(b"ORIGINAL-ID-PLACEHOLDER", b"hub.1.abc@paeria.cat")
    outcome = await p.ingest(bounce)
    assert outcome.ticket_id == first.ticket_id and not outcome.new_ticket  # filed on the thread
    async with ctx.sessionmaker() as s:
        row = await s.get(Message, ack.id)
    assert row is not None and row.status == "failed" and row.error_code == "5.1.2"
    assert len(await acks(ctx)) == 1  # and the bounce was not acknowledged


async def test_the_same_mail_twice_is_one_message(ctx: HubContext) -> None:
    p = pipeline(ctx)
    assert (await p.ingest(citizen(1))).status == "imported"
    assert (await Pipeline(ctx, p.mail).ingest(citizen(1))).status == "duplicate"  # a fresh process too
    async with ctx.sessionmaker() as s:
        assert len((await s.exec(select(Ticket))).all()) == 1


# Hypothesis: whatever arrives, the pipeline stores it or quarantines it, and never raises.


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=st.one_of(
    st.binary(max_size=2000),
    st.builds(lambda head, body: b"From: x@example.cat\r\n" + head + b"\r\n\r\n" + body,
              st.binary(max_size=300), st.binary(max_size=500)),
))
def test_arbitrary_bytes_never_raise_out_of_the_pipeline(
    settings: Settings, loop: asyncio.AbstractEventLoop, raw: bytes,
) -> None:
    async def run() -> None:
        ctx = HubContext.create(settings, FakeClock())
        try:
            outcome = await pipeline(ctx).ingest(raw)
            assert outcome.status in ("imported", "quarantined", "duplicate")
        finally:
            await ctx.close()

    loop.run_until_complete(run())


async def test_nul_bytes_and_undecodable_headers_are_stored_on_every_backend(any_db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings

    ctx = HubContext.create(make_settings(tmp_path, any_db_url), FakeClock())
    try:
        raw = (
            b"From: =?utf-8?q?Nul=00Name?= <nul\xff@example.cat>, Real <real@example.cat>\r\n"
            b"To: oac360@paeria.cat\r\nSubject: =?utf-8?q?a=00b?= \xff\xfe\r\n"
            b"Message-ID: <id\x00with-nul@example.cat>\r\nIn-Reply-To: <\xff\xfe@x>\r\n"
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nbody\x00with nul \xff\r\n--b\r\n"
            b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"f\x00\xff.pdf\"\r\n\r\n"
            b"%PDF\r\n--b--\r\n"
        )
        outcome = await pipeline(ctx).ingest(raw)
        assert outcome.status == "imported" and outcome.provider_id.startswith("sha256:")
        async with ctx.sessionmaker() as s:
            [message] = (await s.exec(select(Message).where(Message.direction == "in"))).all()
        assert "\x00" not in message.body and "body" in message.body
        assert (await pipeline(ctx).ingest(raw)).status == "duplicate"
    finally:
        await ctx.close()
