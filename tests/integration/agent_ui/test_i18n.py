"""Every string of the web UI has a Catalan and a Spanish translation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from agent_ui.i18n import translations

ROOT = Path(__file__).resolve().parents[3]


def _extracted(tmp_path: Path) -> set[str]:
    pot = tmp_path / "ui.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "--quiet", "extract", "-F", "agent_ui/babel.cfg",
         "-k", "translate:2", "-k", "translate_plural:2,3", "-o", str(pot), "agent_ui", "channels"],
        cwd=ROOT, check=True,
    )
    with pot.open("rb") as fh:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}


def test_every_ui_string_is_translated_to_catalan_and_spanish(tmp_path: Path) -> None:
    wanted = _extracted(tmp_path)
    assert "Log in" in wanted  # the extraction itself works
    missing = []
    for lang in ("ca", "es"):
        with (ROOT / f"agent_ui/locale/{lang}/LC_MESSAGES/ui.po").open("rb") as fh:
            done = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id and m.string and not m.fuzzy}
        missing += [f"{lang}: {msgid!r}" for msgid in sorted(wanted - done)]
    assert not missing, "untranslated UI strings (see agent_ui/README.md):\n" + "\n".join(missing)


def test_catalogues_load() -> None:
    assert translations("ca").ugettext("Queue") == "Cua"
    assert translations("es").ugettext("Queue") == "Cola"
    assert translations("en").ugettext("Queue") == "Queue"


def test_catalan_never_writes_de_before_a_name() -> None:
    """'Capacitat de Admin' is wrong ('d'Admin'): a name's first letter is unknown, so Catalan
    sentences put names where no elision is needed."""
    with (ROOT / "agent_ui/locale/ca/LC_MESSAGES/ui.po").open("rb") as fh:
        wrong = [m.string for m in read_po(fh) if isinstance(m.string, str)
                 and any(f"de %({field})s" in m.string for field in ("name", "topic", "agent", "contact"))]
    assert not wrong
