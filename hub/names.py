"""Reading a citizen's name out of their answer to the welcome message (pure)."""

from __future__ import annotations

import re

_PREFIXES = re.compile(
    r"^\s*(?:hola[,!.\s]*|hello[,!.\s]*|hi[,!.\s]*|bon dia[,!.\s]*|buenos d[ií]as[,!.\s]*)?"
    r"(?:em dic|jo s[oó]c|s[oó]c|me llamo|mi nombre es|yo soy|soy|my name is|i am|i'm|name:)\s+",
    re.IGNORECASE,
)
MAX_NAME = 80


def name_from_answer(text: str) -> str:
    """Best guess at a name; agents can correct it. Empty when the answer has no text."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = _PREFIXES.sub("", line).strip(" .,!;:-")
    line = re.sub(r"\s+", " ", line)
    return line[:MAX_NAME].strip()
