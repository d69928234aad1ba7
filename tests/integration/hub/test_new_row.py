"""`new_row`: the cheap constructor of rows about to be inserted builds what the model's
constructor builds (values, defaults, pydantic's bookkeeping), for every table, and such a row
is stored like any other."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import SQLModel, select

from hub.context import HubContext
from hub.db.tables import Contact, Message, Ticket, new_row

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
MODELS = sorted((m.class_ for m in SQLModel._sa_registry.mappers), key=lambda c: c.__name__)  # type: ignore[attr-defined]


def _sample(annotation: Any) -> Any:
    text = str(annotation)
    if "datetime" in text:
        return NOW
    if "bool" in text:
        return True
    if "int" in text:
        return 7
    if "dict" in text:
        return {"k": [1, "ü"]}
    if "list" in text:
        return ["a"]
    return "x"


def _state(row: SQLModel) -> tuple[dict[str, Any], set[str], Any, Any]:
    data = {k: v for k, v in row.__dict__.items() if k != "_sa_instance_state"}
    return data, row.__pydantic_fields_set__, row.__pydantic_extra__, row.__pydantic_private__


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_new_row_builds_what_the_constructor_builds(model: type[SQLModel]) -> None:
    every = {name: _sample(field.annotation) for name, field in model.model_fields.items() if name != "id"}
    for values in ({}, every, dict(list(every.items())[::2])):
        built, made = model(**values), new_row(model, **values)
        assert _state(made) == _state(built)


def test_new_rows_never_share_a_mutable_default() -> None:
    for model in MODELS:
        first, second = new_row(model), new_row(model)
        for name, value in first.__dict__.items():
            if isinstance(value, (dict, list, set)):
                assert value is not second.__dict__[name], f"{model.__name__}.{name}"


async def test_a_new_row_is_stored_like_any_other(ctx: HubContext) -> None:
    async with ctx.sessionmaker() as session:
        contact = new_row(Contact, display_hint="Anna", created_at=NOW, updated_at=NOW)
        session.add(contact)
        await session.flush()
        ticket = new_row(Ticket, contact_id=contact.id, channel="email", status="waiting", created_at=NOW, updated_at=NOW)
        session.add(ticket)
        await session.flush()
        session.add(new_row(Message, ticket_id=ticket.id, contact_id=contact.id, channel="email", direction="note",
                            created_at=NOW, meta={"text_key": "x"}))
        await session.commit()
    async with ctx.sessionmaker() as session:
        [message] = (await session.exec(select(Message))).all()
        [stored] = (await session.exec(select(Contact))).all()
    assert (message.kind, message.body, message.status, message.meta) == ("text", "", "received", {"text_key": "x"})
    assert (stored.display_hint, stored.name, stored.language) == ("Anna", Contact().name, Contact().language)
