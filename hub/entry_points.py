"""Entry points: the WhatsApp click-to-chat links the city's web pages, posters and counters
carry. Pure functions only (no I/O): the link, and which entry point a first message came from.

A `https://wa.me/<number>?text=<prefill>` link opens WhatsApp with the prefill typed in the
citizen's box; what reaches us is whatever they finally send. WhatsApp and phones tamper with
it a little (trailing spaces dropped, "smart" punctuation, an accent lost to a keyboard, a
capital letter added), and citizens keep typing after it. So a message comes from an entry
point when, read loosely (`loose`: case, accents, spacing and the prefill's trailing
punctuation ignored), it starts with the prefill as a whole word. When several prefills match
("Ajuda" and "Ajuda amb el padró"), the longest, the most specific, wins.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

PREFILL_MAX = 200
LABEL_MAX = 120
# What a prefill may end with that says nothing about where the citizen came from.
_TRAILING = " \t\n:;,.-–—…·>»\"'“”‘’()[]"
_SPACES = re.compile(r"\s+")
# Typographic variants phones substitute for what a page typed.
_FOLD = str.maketrans({"’": "'", "‘": "'", "´": "'", "`": "'", "“": '"', "”": '"', "«": '"', "»": '"',
                       "–": "-", "—": "-", "\u00a0": " "})


def loose(text: str) -> str:
    """`text` as matching reads it: no accents, case or repeated spaces; typographic quotes and
    dashes as plain ones. Catalan's middle dot (l·l) is kept: it is part of words."""
    folded = unicodedata.normalize("NFKD", text.translate(_FOLD))
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _SPACES.sub(" ", plain.casefold()).strip()


def prefill_key(prefill: str) -> str:
    """The part of a prefill that identifies its entry point: `loose`, without trailing
    punctuation or spaces ("Ajuda amb el padró: " and "ajuda amb el padro" are the same key)."""
    return loose(prefill).rstrip(_TRAILING)


@dataclass(frozen=True)
class Candidate:
    """An entry point as matching needs it."""

    id: int
    key: str  # prefill_key(prefill)
    topic_id: int | None = None


def match(body: str, candidates: Iterable[Candidate]) -> Candidate | None:
    """The entry point a first message `body` came through, or None.

    The message must start with the key and the key must end at a word's end ("Ajuda" does not
    match "Ajudant"); the longest key that matches wins (ties: the oldest entry point)."""
    text = loose(body)
    best: Candidate | None = None
    for candidate in candidates:
        key = candidate.key
        if not key or not text.startswith(key):
            continue
        after = text[len(key):len(key) + 1]
        if after and after.isalnum() and key[-1].isalnum():
            continue
        if best is None or len(key) > len(best.key) or (len(key) == len(best.key) and candidate.id < best.id):
            best = candidate
    return best


def wa_me_link(number: str, prefill: str) -> str:
    """`https://wa.me/<digits>?text=<prefill>`: WhatsApp's click-to-chat link (the number in
    international form without `+`, spaces or a `whatsapp:` prefix)."""
    digits = whatsapp_digits(number)
    link = f"https://wa.me/{digits}"
    return f"{link}?text={quote(prefill, safe='')}" if prefill else link


def whatsapp_digits(number: str) -> str:
    """`whatsapp:+34 622 84 62 72` -> `34622846272` ("" when there is no number)."""
    return "".join(ch for ch in number.removeprefix("whatsapp:") if ch.isdigit())
