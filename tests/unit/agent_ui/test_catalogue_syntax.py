"""The UI catalogues stay well-formed. Everyone appends entries at the end of the same three
files, and a merge of two such appends can leave a `msgid` without its `msgstr` (babel then
drops the entry with only a warning, and that text shows in English on a ca/es page)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CATALOGUES = sorted((ROOT / "agent_ui" / "locale").glob("*/LC_MESSAGES/*.po"))


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_every_msgid_has_its_msgstr(po: Path) -> None:
    lines = po.read_text(encoding="utf-8").splitlines()
    broken = []
    for number, (line, following) in enumerate(zip(lines, lines[1:] + [""]), start=1):
        if line.startswith("msgid ") and not following.startswith(("msgstr", "msgid_plural", '"')):
            broken.append(f"line {number}: {line[:80]}")
        if line.startswith("msgstr ") and following.startswith("msgstr "):
            broken.append(f"line {number + 1}: a second msgstr")
    assert not broken, f"{po.relative_to(ROOT)}:\n" + "\n".join(broken)
