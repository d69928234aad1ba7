"""Quick replies (canned responses): shared ones kept by managers, personal ones by each agent.

A body may use `{citizen_name}`, `{agent_name}`, `{reference}` and `{office_hours}`; any other
placeholder is refused when the reply is saved (with the reason), so an agent never sends a
citizen a stray `{brace}`. `fill` puts one consultation's values in; the agent edits the result
before sending it like any other reply. Writers check the actor and audit in their transaction.
"""

from __future__ import annotations

from string import Formatter
import msgspec
from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from hub.actions.audit import add_audit
from hub.actions.errors import Forbidden, Invalid, NotFound
from hub.actions.topics import Actor, is_manager
from hub.actions.unit import UnitOfWork
from hub.config import LANGUAGES
from hub.context import HubContext
from hub.db.tables import Agent, CannedResponse, Contact, Option, Ticket
from hub.texts import describe_hours, normalise_language, render

PLACEHOLDERS = ("citizen_name", "agent_name", "reference", "office_hours")
SEEDED_OPTION = "quick_replies.seeded"
TITLE_MAX, BODY_MAX, SHORTCUT_MAX = 120, 5000, 40


class QuickReply(msgspec.Struct):
    id: int
    title: str
    body: str
    language: str
    shortcut: str
    shared: bool
    owner_id: int | None
    filled: str | None = None  # the body with one consultation's values (when asked for a ticket)


def _out(row: CannedResponse, filled: str | None = None) -> QuickReply:
    return QuickReply(id=row.id or 0, title=row.title, body=row.body, language=row.language, shortcut=row.shortcut,
                      shared=row.owner_id is None, owner_id=row.owner_id, filled=filled)


def placeholders_in(body: str) -> list[str]:
    """The `{names}` a body uses (Invalid if its braces do not parse)."""
    try:
        return [field for _lit, field, _spec, _conv in Formatter().parse(body) if field is not None]
    except ValueError as exc:
        raise Invalid(f"the text has an unmatched brace ({exc}); write {{{{ or }}}} for a literal one") from None


def check_body(body: str) -> str:
    text = body.strip()
    if not text:
        raise Invalid("the text must not be empty")
    if len(text) > BODY_MAX:
        raise Invalid(f"the text has at most {BODY_MAX} characters")
    unknown = sorted({p for p in placeholders_in(text) if p not in PLACEHOLDERS})
    if unknown:
        raise Invalid(f"unknown placeholders: {', '.join('{' + p + '}' for p in unknown)}; "
                      f"available: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}")
    return text


def _check(title: str, language: str, shortcut: str) -> tuple[str, str, str]:
    title = " ".join(title.split())
    if not title or len(title) > TITLE_MAX:
        raise Invalid(f"the title must have 1 to {TITLE_MAX} characters")
    if language not in LANGUAGES:
        raise Invalid(f"unknown language {language!r}; one of {', '.join(LANGUAGES)}")
    shortcut = shortcut.strip().lstrip("/").lower()
    if len(shortcut) > SHORTCUT_MAX or any(ch.isspace() for ch in shortcut):
        raise Invalid(f"a shortcut is one word of at most {SHORTCUT_MAX} characters")
    return title, language, shortcut


def _may_change(actor: Actor, row: CannedResponse) -> bool:
    return is_manager(actor) if row.owner_id is None else row.owner_id == actor.id


# Reading -------------------------------------------------------------------------------------


async def list_quick_replies(ctx: HubContext, actor: Actor, *, language: str | None = None,
                             q: str | None = None, ticket_id: int | None = None) -> list[QuickReply]:
    """The shared replies and the actor's own, by title. With `ticket_id`: the language defaults
    to the citizen's, and each carries `filled` (its body with that consultation's values)."""
    values: dict[str, str] | None = None
    if ticket_id is not None:
        values, contact_language = await _values(ctx, actor, ticket_id)
        language = language or contact_language
    stmt = select(CannedResponse).where(
        or_(col(CannedResponse.owner_id).is_(None), CannedResponse.owner_id == actor.id)
    ).order_by(col(CannedResponse.title), col(CannedResponse.id))
    if language:
        stmt = stmt.where(CannedResponse.language == language)
    async with ctx.sessionmaker() as session:
        rows = (await session.exec(stmt)).all()
    needle = (q or "").strip().lower()
    out = []
    for row in rows:
        if needle and needle not in f"{row.title} {row.shortcut} {row.body}".lower():
            continue
        out.append(_out(row, render(row.body, **values) if values is not None else None))
    return out


async def _values(ctx: HubContext, actor: Actor, ticket_id: int) -> tuple[dict[str, str], str]:
    from hub.actions.office import office_calendar

    async with ctx.sessionmaker() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        contact = await session.get(Contact, ticket.contact_id)
        agent = await session.get(Agent, actor.id)
    language = normalise_language(contact.language if contact else None, ctx.settings.language)
    calendar = await office_calendar(ctx)
    return {
        "citizen_name": (contact.name if contact else "") or "",
        "agent_name": agent.name if agent else "",
        "reference": ticket.reference or "",
        "office_hours": describe_hours(calendar.hours, language),
    }, language


# Writing -------------------------------------------------------------------------------------


async def do_create_quick_reply(ctx: HubContext, actor: Actor, *, title: str, body: str, language: str,
                                shortcut: str = "", shared: bool = False) -> QuickReply:
    if shared and not is_manager(actor):
        raise Forbidden("only managers and administrators keep shared quick replies")
    title, language, shortcut = _check(title, language, shortcut)
    body = check_body(body)
    async with UnitOfWork(ctx) as uow:
        row = CannedResponse(title=title, body=body, language=language, shortcut=shortcut,
                             owner_id=None if shared else actor.id, created_at=uow.now, updated_at=uow.now)
        await uow.assign_id(row)
        add_audit(uow, actor.id, "quick_reply.create", "quick_reply", row.id, shared=shared)
        return _out(row)


async def do_update_quick_reply(ctx: HubContext, actor: Actor, reply_id: int, *, title: str | None = None,
                                body: str | None = None, language: str | None = None, shortcut: str | None = None,
                                shared: bool | None = None) -> QuickReply:
    async with UnitOfWork(ctx) as uow:
        row = await uow.session.get(CannedResponse, reply_id, with_for_update=True)
        if row is None or not (row.owner_id is None or row.owner_id == actor.id):
            raise NotFound(f"quick reply {reply_id} does not exist")
        if not _may_change(actor, row):
            raise Forbidden("only managers and administrators change shared quick replies")
        if shared is not None and shared != (row.owner_id is None):
            if not is_manager(actor):
                raise Forbidden("only managers and administrators keep shared quick replies")
            row.owner_id = None if shared else actor.id
        new_title, new_language, new_shortcut = _check(
            title if title is not None else row.title, language or row.language,
            shortcut if shortcut is not None else row.shortcut)
        row.title, row.language, row.shortcut = new_title, new_language, new_shortcut
        if body is not None:
            row.body = check_body(body)
        row.updated_at = uow.now
        uow.session.add(row)
        add_audit(uow, actor.id, "quick_reply.update", "quick_reply", reply_id, shared=row.owner_id is None)
        return _out(row)


async def do_delete_quick_reply(ctx: HubContext, actor: Actor, reply_id: int) -> None:
    async with UnitOfWork(ctx) as uow:
        row = await uow.session.get(CannedResponse, reply_id, with_for_update=True)
        if row is None or not (row.owner_id is None or row.owner_id == actor.id):
            raise NotFound(f"quick reply {reply_id} does not exist")
        if not _may_change(actor, row):
            raise Forbidden("only managers and administrators delete shared quick replies")
        await uow.session.delete(row)
        add_audit(uow, actor.id, "quick_reply.delete", "quick_reply", reply_id, title=row.title)


# The seed: a useful shared set for the office's procedures, in the three languages. The links
# are placeholders in capitals for an administrator to replace with the city's pages.
SEED: tuple[tuple[str, str, str, str], ...] = (
    ("ca", "hola", "Salutació", "Bon dia, {citizen_name}. Sóc {agent_name}, de l'Oficina d'Atenció Ciutadana. "
     "En què el puc ajudar?"),
    ("es", "hola", "Saludo", "Buenos días, {citizen_name}. Soy {agent_name}, de la Oficina de Atención Ciudadana. "
     "¿En qué puedo ayudarle?"),
    ("en", "hola", "Greeting", "Good morning, {citizen_name}. I am {agent_name}, from the Citizen Help Office. "
     "How can I help you?"),
    ("ca", "padro", "Volant de padró", "{citizen_name}, el volant d'empadronament es pot demanar en línia a la "
     "Carpeta Ciutadana: [ENLLAÇ AL TRÀMIT DEL PADRÓ]. Necessitarà un certificat digital o idCAT Mòbil."),
    ("es", "padro", "Volante de padrón", "{citizen_name}, el volante de empadronamiento se puede pedir en línea en "
     "la Carpeta Ciudadana: [ENLACE AL TRÁMITE DEL PADRÓN]. Necesitará un certificado digital o idCAT Móvil."),
    ("en", "padro", "Census certificate", "{citizen_name}, you can request your census certificate (padró) online "
     "in the Carpeta Ciutadana: [LINK TO THE PADRÓ PROCEDURE]. You will need a digital certificate or idCAT Mòbil."),
    ("ca", "rebut", "Pagament de rebuts", "Pot pagar els rebuts municipals a l'Oficina Virtual Tributària: "
     "[ENLLAÇ A L'OVT]. Si ens indica el número de rebut, el guiem pas a pas."),
    ("es", "rebut", "Pago de recibos", "Puede pagar los recibos municipales en la Oficina Virtual Tributaria: "
     "[ENLACE A LA OVT]. Si nos indica el número de recibo, le guiamos paso a paso."),
    ("en", "rebut", "Paying bills", "You can pay municipal bills at the Oficina Virtual Tributària: [LINK TO THE "
     "OVT]. If you tell us the bill number, we will guide you step by step."),
    ("ca", "instancia", "Presentar una instància", "Una instància genèrica es presenta a la seu electrònica: "
     "[ENLLAÇ A LA INSTÀNCIA GENÈRICA]. Pot adjuntar-hi documents en PDF."),
    ("es", "instancia", "Presentar una instancia", "Una instancia genérica se presenta en la sede electrónica: "
     "[ENLACE A LA INSTANCIA GENÉRICA]. Puede adjuntar documentos en PDF."),
    ("en", "instancia", "Filing an application", "A general application (instància) is filed at the e-office: "
     "[LINK TO THE GENERAL APPLICATION]. You can attach PDF documents."),
    ("ca", "expedient", "Estat d'un expedient", "Pot consultar l'estat dels seus expedients a la Carpeta "
     "Ciutadana: [ENLLAÇ A LA CARPETA CIUTADANA]. La seva consulta és la {reference}."),
    ("es", "expedient", "Estado de un expediente", "Puede consultar el estado de sus expedientes en la Carpeta "
     "Ciudadana: [ENLACE A LA CARPETA CIUDADANA]. Su consulta es la {reference}."),
    ("en", "expedient", "State of a case file", "You can check your case files in the Carpeta Ciutadana: "
     "[LINK TO THE CARPETA CIUTADANA]. Your consultation is {reference}."),
    ("ca", "horari", "Horari de l'oficina", "L'oficina atén {office_hours}. Fora d'aquest horari pot deixar-nos "
     "el missatge i li respondrem tan aviat com puguem."),
    ("es", "horari", "Horario de la oficina", "La oficina atiende {office_hours}. Fuera de este horario puede "
     "dejarnos el mensaje y le responderemos lo antes posible."),
    ("en", "horari", "Office hours", "The office answers {office_hours}. Outside these hours you can leave us a "
     "message and we will answer as soon as we can."),
)


async def do_seed_quick_replies(ctx: HubContext) -> bool:
    """The shared seed set, once per database (a marker option; see `do_seed_topics`)."""
    async with ctx.sessionmaker() as session:
        if await session.get(Option, SEEDED_OPTION) is not None:
            return False
    try:
        async with UnitOfWork(ctx) as uow:
            uow.session.add(Option(key=SEEDED_OPTION, value=True, updated_at=uow.now))
            await uow.session.flush()
            for language, shortcut, title, body in SEED:
                uow.session.add(CannedResponse(title=title, body=check_body(body), language=language,
                                               shortcut=shortcut, owner_id=None, created_at=uow.now,
                                               updated_at=uow.now))
    except IntegrityError:
        return False
    return True
