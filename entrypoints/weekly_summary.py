"""Send the managers' weekly summaries that are due (called from the scheduler's sweep).

Which week and when: `hub.weekly.week_due` (the office's first working day, from its opening).
Once per manager and week: `hub.actions.reports` (a unique row claimed before sending). The
figures are the roll-ups' (`hub.rollups.query_compared`); the mail goes through the mail
channel's SMTP server and From address (its settings, given by the composition root, and
`channels.email.sender.EmailSender.send`).
"""

from __future__ import annotations

import logging

from agent_ui.weekly_mail import compose, week_range
from channels.email.config import MailSettings
from channels.email.sender import EmailSender
from hub.actions.reports import (
    do_claim_weekly_summary, do_mark_weekly_summary_sent, do_release_weekly_summary, weekly_recipients,
)
from hub.actions.office import office_calendar
from hub.context import HubContext
from hub.rollups import query_compared
from hub.weekly import week_due

log = logging.getLogger(__name__)


async def send_weekly_summaries(ctx: HubContext, mail: MailSettings) -> int:
    """Send every due summary not sent yet through `mail`'s SMTP server; returns how many this call sent."""
    if not mail.smtp_configured:
        return 0
    week = week_due(ctx.clock.now(), await office_calendar(ctx))  # admins' hours and closures included
    if week is None:
        return 0
    recipients = await weekly_recipients(ctx, week)
    if not recipients:
        return 0
    sender = EmailSender(ctx.settings, mail)
    first, last = week_range(week)
    sent = 0
    for agent in recipients:
        assert agent.id is not None
        if not await do_claim_weekly_summary(ctx, week, agent.id):
            continue  # another scheduler has it
        try:
            stats = await query_compared(ctx, first, last, comments_limit=0)
            await sender.send(compose(ctx.settings, stats, agent.email, agent.language, mail.mail_from))
        except Exception:
            log.exception("weekly summary of %s for agent %s not sent; retried at the next sweep", week, agent.id)
            await do_release_weekly_summary(ctx, week, agent.id)
            continue
        await do_mark_weekly_summary_sent(ctx, week, agent.id)
        sent += 1
    return sent
