"""Which entry point a first message came through (hub/entry_points.py), as properties: what the
phone or the citizen may change, what they may add, and which prefill wins."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from hub.entry_points import Candidate, loose, match, prefill_key, wa_me_link, whatsapp_digits

PREFILLS = ["Ajuda amb el padró: ", "Tinc un dubte amb un rebut", "Consulta d'expedients -", "Instància genèrica",
            "Ayuda con el padrón:", "Carpeta Ciutadana", "Col·legi electoral"]
words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)


def _candidates() -> list[Candidate]:
    return [Candidate(i + 1, prefill_key(p), topic_id=i) for i, p in enumerate(PREFILLS)]


def _phone_changes(text: str, upper: bool, drop_accents: bool, squash: bool) -> str:
    """What a phone may do to the typed prefill: capitals, accents lost, trailing space dropped,
    typographic apostrophes."""
    out = text.replace("'", "’")
    if upper:
        out = out.upper()
    if drop_accents:
        out = loose(out) if not upper else loose(out).upper()
    if squash:
        out = out.rstrip()
    return out


@given(st.sampled_from(PREFILLS), st.booleans(), st.booleans(), st.booleans(), words)
def test_a_prefill_the_phone_changed_and_the_citizen_continued_still_matches(
    prefill: str, upper: bool, drop_accents: bool, squash: bool, rest: str,
) -> None:
    text = _phone_changes(prefill, upper, drop_accents, squash)
    glued = loose(text)[-1:].isalnum() and loose(rest)[:1].isalnum()  # a space keeps the words apart
    body = text + (" " if glued else "") + rest
    found = match(body, _candidates())
    assert found is not None
    # the longest matching prefill wins; here none of the others is a prefix of another
    assert found.key == prefill_key(prefill)


@given(st.sampled_from(PREFILLS), words)
def test_a_message_that_only_mentions_the_prefill_later_does_not_match(prefill: str, before: str) -> None:
    body = "Hola" + before + " " + prefill
    assert match(body, _candidates()) is None


@given(words)
def test_the_longest_prefill_that_matches_wins(rest: str) -> None:
    short, long_ = Candidate(1, prefill_key("Ajuda")), Candidate(2, prefill_key("Ajuda amb el padró"))
    assert match("Ajuda amb el padró " + rest, [short, long_]) == long_
    assert match("Ajuda amb el padró " + rest, [long_, short]) == long_
    assert match("ajuda, " + rest, [long_, short]) == short


def test_a_prefill_ends_at_a_word_end() -> None:
    candidates = [Candidate(1, prefill_key("Ajuda"))]
    assert match("Ajudant de la web", candidates) is None
    assert match("Ajuda", candidates) is not None
    assert match("Ajuda!", candidates) is not None
    assert match("", candidates) is None
    assert match("Ajuda", []) is None


def test_prefill_keys_ignore_what_does_not_tell_entry_points_apart() -> None:
    assert prefill_key("Ajuda amb el padró: ") == prefill_key("ajuda  amb el PADRO") == "ajuda amb el padro"
    assert prefill_key("Col·legi electoral -") == "col·legi electoral"
    assert prefill_key("“Consulta” d’expedients…") == '"consulta" d\'expedients'


@given(st.text(max_size=200))
def test_the_wa_me_link_carries_the_prefill_exactly(prefill: str) -> None:
    link = wa_me_link("whatsapp:+34 622 84 62 72", prefill)
    parts = urlsplit(link)
    assert parts.scheme == "https" and parts.netloc == "wa.me" and parts.path == "/34622846272"
    if prefill:
        assert parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)["text"] == [prefill]
    else:
        assert parts.query == ""


def test_the_number_is_digits_only() -> None:
    assert whatsapp_digits("whatsapp:+34622846272") == "34622846272"
    assert whatsapp_digits("+34 973 70 03 00") == "34973700300"
    assert whatsapp_digits("") == ""


async def test_the_demo_office_has_entry_points_and_consultations_that_came_through_them(settings) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from entrypoints.demo_data import seed
    from hub.context import HubContext
    from hub.rollups import query_stats

    await seed(settings, weeks=1, per_day=(6, 6))
    ctx = HubContext.create(settings)
    try:
        today = datetime.now(UTC).date()
        stats = await query_stats(ctx, today - timedelta(days=10), today)
        by_label = {e.label: e for e in stats.by_entry_point}
        assert by_label and sum(e.consultations for e in stats.by_entry_point) > 0
        padro = next((t for t in stats.by_topic if t.key == "padro"), None)
        assert "Web del padró" not in by_label or (padro is not None and padro.consultations > 0)
    finally:
        await ctx.close()
