"""`hub run --demo`: three weeks of an office's consultations, played through the real actions.

A fake clock walks through the weekdays of the last three weeks (office hours, Europe/Madrid by
default); each consultation's steps (the citizen writes, answers with a name or not, an agent
takes it, replies, resolves, the citizen answers the survey; calls logged, missed and called
back) run in time order across all consultations of the day, so every event, timer and survey
is genuine. Outbound messages are marked delivered by a local demo sender (nothing leaves the
machine). Today only gets what has already happened, and a few consultations stay open so the
queue and the managers' "now" panel have something to show.

Idempotent: a database that already holds tickets is left alone.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from hub.actions.agents import do_create_agent
from hub.actions.calls import CallEntry, do_log_call
from hub.actions.entry_points import do_create_entry_point
from hub.actions.errors import DomainError
from hub.actions.lifecycle import do_assign, do_fire_timer, do_resolve
from hub.actions.messages import do_receive_message, do_reply
from hub.actions.outbox import claim_delivery, complete_delivery
from hub.actions.survey import do_answer_survey
from hub.actions.topics import do_seed_topics, list_topics
from hub.clock import FakeClock
from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Agent, Outbox, Ticket
from hub.inbound import IdentityIn, InboundMessage

log = logging.getLogger(__name__)

WEEKS = 3
EXTRA_AGENTS = [("anna.serra@oac.example", "Anna Serra"), ("pau.roca@oac.example", "Pau Roca"),
                ("laia.font@oac.example", "Laia Font")]
NAMES = ["Maria Puig", "Josep Soler", "Núria Vidal", "Jordi Camps", "Montserrat Riba", "Antoni Mas",
         "Carme Bosch", "Xavier Pons", "Rosa Ferrer", "Joan Sala", "Pilar Gómez", "Manuel García",
         "Fatima El Amrani", "Ionut Popescu", "Laura Martínez", "Sergi Roig", "Marta Coll", "Ahmed Benali"]
TOPICS = {
    "ca": ["Hola, necessito el certificat d'empadronament", "Com puc pagar l'IBI en línia?",
           "Vull presentar una instància i no sé com", "En quin estat està el meu expedient?",
           "No em funciona el certificat digital per fer el tràmit"],
    "es": ["Hola, necesito el certificado de empadronamiento", "¿Cómo pago la tasa de basuras?",
           "Quiero presentar una instancia", "¿Cómo va mi expediente?"],
    "en": ["Hello, I need to register in the census (padró)", "How can I pay a municipal bill online?"],
}
REPLIES = ["Bon dia, ara ho miro i us dic alguna cosa.", "Us envio l'enllaç del tràmit i els passos a seguir.",
           "Ja està fet: rebreu la confirmació per correu.", "Cal que porteu el DNI i el contracte de lloguer."]
# WhatsApp entry points of the city's web pages (label, prefilled first message, topic, what the
# citizen adds): every third WhatsApp consultation comes through one, so the statistics show them.
ENTRY_POINTS = [
    ("Web del padró", "Ajuda amb el padró: ", "padro",
     ["necessito un volant d'empadronament", "m'he canviat de pis, com ho comunico?"]),
    ("Web de l'OVT (rebuts)", "Tinc un dubte amb un rebut: ", "rebuts",
     ["com puc pagar l'IBI en línia?", "m'ha arribat un rebut duplicat"]),
    ("Cartell al taulell de l'OAC", "Hola OAC! ", None,
     ["vull demanar cita prèvia", "com va el meu expedient?"]),
]
COMMENTS = ["Molt amables i ràpids, gràcies!", "M'han resolt el dubte en cinc minuts.", "",
            "Vaig haver d'esperar una mica però tot bé.", "Muy bien atendido, gracias.", "", "",
            "No em van saber ajudar amb el certificat digital.", "Excel·lent servei."]


@dataclass
class Consultation:
    """One citizen's story; `ticket_id` and `token` are filled in as the steps run."""

    channel: str
    who: str
    name: str
    language: str
    ticket_id: int | None = None
    token: str | None = None
    agent_id: int = 0
    extra: dict[str, object] = field(default_factory=dict)


Step = tuple[datetime, int, Callable[[], Awaitable[None]]]


async def seed(settings: Settings, *, weeks: int = WEEKS, per_day: tuple[int, int] = (6, 12)) -> None:
    ctx = HubContext.create(settings, FakeClock())
    try:
        async with ctx.sessionmaker() as session:
            if (await session.exec(select(Ticket.id).limit(1))).first() is not None:
                log.info("demo data: the database already has consultations; nothing seeded")
                return
        await _seed(ctx, settings, weeks, per_day)
    finally:
        await ctx.close()


async def _seed(ctx: HubContext, settings: Settings, weeks: int, per_day: tuple[int, int]) -> None:
    rng = random.Random(7)
    tz = ZoneInfo(settings.timezone)
    clock = ctx.clock
    assert isinstance(clock, FakeClock)
    real_now = datetime.now(UTC)
    clock.set(real_now - timedelta(days=7 * weeks + 1))
    agents = await _agents(ctx)
    await _entry_points(ctx)
    counter = iter(range(1, 10**9))
    today = real_now.astimezone(tz).date()
    day = today - timedelta(days=7 * weeks)
    steps: list[Step] = []
    while day <= today:
        if day.weekday() < 5:
            for _ in range(rng.randint(*per_day)):
                steps.extend(_plan(ctx, rng, tz, day, agents, counter))
        day += timedelta(days=1)
    # One time line for all consultations: a resolution two days later happens after the
    # next days' arrivals, as it would in the office.
    steps.sort(key=lambda s: (s[0], s[1]))
    made = 0
    for when, _order, run in steps:
        if when > real_now:
            break  # the future has not happened yet
        clock.set(max(clock.now(), when))
        try:
            await run()
        except DomainError as exc:  # a step that no longer applies (e.g. already resolved)
            log.debug("demo step skipped: %s", exc)
        made += 1
        if made % 200 == 0:
            await _deliver_pending(ctx)
    await _deliver_pending(ctx)
    log.info("demo data: %d steps played over %d weeks", made, weeks)


@dataclass(frozen=True)
class _Seeder:
    """Who creates the demo's entry points: nobody in particular (the audit shows no agent)."""

    id: int | None = None
    role: str = "admin"


async def _entry_points(ctx: HubContext) -> None:
    await do_seed_topics(ctx)  # the web process seeds them too; the demo may run first
    topics = {t.key: t.id for t in await list_topics(ctx)}
    for label, prefill, topic, _ in ENTRY_POINTS:
        await do_create_entry_point(ctx, _Seeder(), label, prefill, topics.get(topic) if topic else None)  # type: ignore[arg-type]


async def _agents(ctx: HubContext) -> list[int]:
    async with ctx.sessionmaker() as session:
        existing = {a.email: a.id for a in (await session.exec(select(Agent))).all()}
    for email, name in EXTRA_AGENTS:
        if email not in existing:
            # Demo colleagues for the statistics; nobody logs in as them (the password is discarded).
            existing[email] = await do_create_agent(ctx, email, name, "agent", secrets.token_urlsafe(18))
    async with ctx.sessionmaker() as session:
        rows = (await session.exec(select(Agent).where(Agent.role == "agent", Agent.active == True))).all()  # noqa: E712
    return [a.id for a in rows if a.id is not None]


def _plan(ctx: HubContext, rng: random.Random, tz: ZoneInfo, day: date, agents: list[int],
          counter) -> list[Step]:  # type: ignore[no-untyped-def]
    """The steps of one consultation on `day`, each at its moment."""
    n = next(counter)
    start = datetime.combine(day, time(8, 30), tz).astimezone(UTC) + timedelta(minutes=rng.randint(0, 6 * 60))
    language = rng.choices(["ca", "es", "en"], weights=[70, 25, 5])[0]
    channel = rng.choices(["whatsapp", "email", "phone"], weights=[50, 30, 20])[0]
    name = rng.choice(NAMES)
    who = f"demo{n}@example.net" if channel == "email" else f"+3460{rng.randint(1000000, 9999999)}"
    c = Consultation(channel, who, name, language, agent_id=rng.choice(agents))
    steps: list[Step] = []
    order = iter(range(n * 100, n * 100 + 100))

    def at(minutes: float, fn: Callable[[], Awaitable[None]]) -> None:
        steps.append((start + timedelta(minutes=minutes), next(order), fn))

    if channel == "phone":
        if rng.random() < 0.2:  # missed, then called back a couple of hours later
            at(0, lambda: _log_call(ctx, c, outcome="missed", duration=0))
            at(rng.randint(30, 180), lambda: _log_call(ctx, c, outcome="answered", duration=rng.randint(60, 400),
                                                       direction="outbound"))
        else:
            at(rng.randint(2, 9), lambda: _log_call(ctx, c, outcome="answered", duration=rng.randint(60, 540)))
        return steps

    if channel == "whatsapp" and n % 3 == 0:  # through an entry point of the city's web pages
        _, prefill, _, asks = ENTRY_POINTS[n // 3 % len(ENTRY_POINTS)]
        at(0, lambda: _citizen(ctx, c, prefill + asks[n // 9 % len(asks)], n))
    else:
        at(0, lambda: _citizen(ctx, c, rng.choice(TOPICS[language]), n))
    t = 0.0
    if channel == "whatsapp":
        if rng.random() < 0.12:  # never answers the name question: reminder, then closed
            at(20.5, lambda: _timer(ctx, c))
            at(41, lambda: _timer(ctx, c))
            return steps
        t = rng.uniform(0.5, 8)
        at(t, lambda: _citizen(ctx, c, f"Em dic {name}", n, suffix="name"))
    t += rng.expovariate(1 / 12)  # waiting in the queue
    at(t, lambda: _assign(ctx, c))
    if rng.random() < 0.06:  # transferred to a colleague
        other = rng.choice([a for a in agents if a != c.agent_id] or agents)
        at(t + 1, lambda: _assign(ctx, c, other))
    if rng.random() > 0.05:  # most get a written answer
        t += rng.uniform(1, 20)
        at(t, lambda: _reply(ctx, c, rng.choice(REPLIES)))
    t += rng.choice([rng.uniform(5, 60), rng.uniform(60, 600), rng.uniform(600, 3000)])
    if rng.random() < 0.9:
        at(t, lambda: _resolve(ctx, c))
        if channel in ("whatsapp", "email") and rng.random() < 0.4:
            rating = rng.choices([5, 4, 3, 2, 1], weights=[50, 28, 12, 6, 4])[0]
            at(t + rng.uniform(5, 300), lambda: _answer(ctx, c, rating, rng.choice(COMMENTS)))
    return steps


async def _citizen(ctx: HubContext, c: Consultation, body: str, n: int, suffix: str = "") -> None:
    kind = "email" if c.channel == "email" else "phone"
    got = await do_receive_message(ctx, InboundMessage(
        channel=c.channel, provider_id=f"demo-{n}-{suffix or 'first'}", received_at=ctx.clock.now(), body=body,
        identities=[IdentityIn(kind, c.who)], display_hint=c.name if c.channel == "whatsapp" else "",
        subject=body[:60] if c.channel == "email" else "", language=c.language,
    ))
    c.ticket_id = c.ticket_id or got.ticket_id


async def _timer(ctx: HubContext, c: Consultation) -> None:
    if c.ticket_id is not None:
        await do_fire_timer(ctx, c.ticket_id)


async def _assign(ctx: HubContext, c: Consultation, agent_id: int | None = None) -> None:
    if c.ticket_id is not None:
        target = agent_id or c.agent_id
        await do_assign(ctx, c.ticket_id, target, by_agent_id=target)
        c.agent_id = target


async def _reply(ctx: HubContext, c: Consultation, body: str) -> None:
    if c.ticket_id is not None:
        await do_reply(ctx, c.ticket_id, c.agent_id, body)


async def _resolve(ctx: HubContext, c: Consultation) -> None:
    if c.ticket_id is not None:
        resolved = await do_resolve(ctx, c.ticket_id, c.agent_id)
        if resolved.survey_url:
            c.token = resolved.survey_url.rsplit("/", 1)[1]


async def _answer(ctx: HubContext, c: Consultation, rating: int, comment: str) -> None:
    if c.token:
        await do_answer_survey(ctx, c.token, rating, comment)


async def _log_call(ctx: HubContext, c: Consultation, *, outcome: str, duration: int,
                    direction: str = "inbound") -> None:
    await do_log_call(ctx, CallEntry(
        number=c.who, direction=direction, outcome=outcome, duration_s=duration,
        agent_id=c.agent_id if outcome == "answered" else None,
        topic="Consulta telefònica" if outcome == "answered" else "",
    ))


async def _deliver_pending(ctx: HubContext) -> None:
    """Mark the day's automatic and agent messages as delivered (a local demo sender)."""
    async with ctx.sessionmaker() as session:
        ids = (await session.exec(select(Outbox.id).where(Outbox.status == "pending").order_by(col(Outbox.id)))).all()
    for outbox_id in ids:
        if outbox_id is None:
            continue
        claimed = await claim_delivery(ctx, outbox_id)
        if claimed is not None:
            await complete_delivery(ctx, outbox_id, f"demo-{outbox_id}", "delivered")
