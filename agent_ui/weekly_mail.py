"""The managers' weekly summary as a mail: last week's key figures against the week before, in
the manager's language, with the same figures and judgements (better/worse) as the statistics
page (`agent_ui.stats.key_figures`), in plain text and HTML."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import date, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from agent_ui.i18n import translations
from agent_ui.stats import key_figures
from hub.config import Settings
from hub.stats import Change, Stats


def _change_text(gettext: Callable[[str], str], c: Change) -> str:
    if c.direction == "none":
        return ""
    if c.direction == "same":
        return gettext("no change")
    arrow = "▲" if c.direction == "up" else "▼"
    amount = f"{c.percent:+.0f} %" if c.percent is not None else (
        gettext("up from 0") if c.direction == "up" else gettext("down"))
    judged = gettext("better") if c.better else gettext("worse") if c.better is False else ""
    return f"{arrow} {amount}" + (f", {judged}" if judged else "")


def compose(settings: Settings, stats: Stats, to: str, language: str, sender: str) -> EmailMessage:
    """The summary for `to`, from `sender` (the mail channel's From, e.g. "OAC Lleida <oac@...>")."""
    _ = translations(language).ugettext
    week_from, week_to = stats.date_from, stats.date_to
    lines = [_("Key figures of %(from)s – %(to)s, against the week before:") % {
        "from": week_from.isoformat(), "to": week_to.isoformat()}, ""]
    rows = []
    for k in key_figures(_, stats, {}):
        before = next(iter(k["compared"]), None)
        value = k["value"] + (f" ({k['extra']})" if k["extra"] else "")
        versus = ""
        if before is not None:
            versus = _("week before: %(before)s") % {"before": before["before"]}
            change = _change_text(_, before["change"])
            versus += f"; {change}" if change else ""
        lines.append(f"- {k['label']}: {value}" + (f" ({versus})" if versus else ""))
        rows.append((k["label"], value, versus))
    link = f"{settings.public_url.rstrip('/')}/stats?from={week_from.isoformat()}&to={week_to.isoformat()}"
    lines += ["", _("The whole report: %(url)s") % {"url": link}, "",
              _("You receive this summary because you asked for it on the statistics page, "
                "where you can switch it off.")]
    mail = EmailMessage()
    mail["Subject"] = _("Weekly summary %(from)s – %(to)s") % {"from": week_from.isoformat(), "to": week_to.isoformat()}
    mail["From"] = sender or "hub@localhost"
    mail["To"] = to
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=(sender.rsplit("@", 1)[-1].strip("> ") or "localhost"))
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-responder should answer
    mail["Content-Language"] = language
    mail.set_content("\n".join(lines))
    table = "".join(
        f"<tr><th scope=\"row\">{html.escape(a)}</th><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
        for a, b, c in rows)
    mail.add_alternative(
        f"<!doctype html><html lang=\"{language}\"><body><p>{html.escape(lines[0])}</p>"
        f"<table>{table}</table><p><a href=\"{html.escape(link)}\">{html.escape(_('The whole report'))}</a></p>"
        f"<p><small>{html.escape(lines[-1])}</small></p></body></html>", subtype="html")
    return mail


def week_range(monday: date) -> tuple[date, date]:
    return monday, monday + timedelta(days=6)
