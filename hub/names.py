"""Reading a citizen's name out of their answer to the welcome message (pure)."""

from __future__ import annotations

import re

# What citizens put before their name: a greeting or an apology for answering late, any number.
_OPENERS = (
    r"(?:(?:hola|hello|hi|bon dia|bona tarda|buenos d[ií]as|buenas tardes|perd[oó]n?|perdona|perdone|disculpa|"
    r"disculpe|disculpeu|ho sento|lo siento|sorry)[,!.\s]+)*"
)
# Phrases that can only introduce a name ("soc" can also start "soc a la feina").
_EXPLICIT = r"(?:em dic|el meu nom [eé]s|me llamo|mi nombre es|my name is|name:)"
_PREFIXES = re.compile(
    rf"^\s*{_OPENERS}(?:{_EXPLICIT}|jo s[oó]c|s[oó]c|yo soy|soy|i am|i'm)\s+", re.IGNORECASE,
)
_STATED = re.compile(rf"^\s*{_OPENERS}{_EXPLICIT}\s+([^,.;:!?\n]+)", re.IGNORECASE)
MAX_NAME = 80
MAX_STATED_WORDS = 5


def name_from_answer(text: str) -> str:
    """Best guess at a name; agents can correct it. Empty when the answer has no text."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = _PREFIXES.sub("", line).strip(" .,!;:-")
    line = re.sub(r"\s+", " ", line)
    return line[:MAX_NAME].strip()


def stated_name(text: str) -> str:
    """The name in a message that says it in so many words ("Perdó, em dic Laura Pons"), else "".

    For a message that is not an answer to the welcome (a late one, after the consultation was
    closed unanswered): only an explicit phrase counts, and only a short name after it.
    """
    found = _STATED.match(text.strip())
    if found is None:
        return ""
    name = re.sub(r"\s+", " ", found.group(1)).strip(" -")
    if not name or len(name.split()) > MAX_STATED_WORDS:
        return ""
    return name[:MAX_NAME].strip()
