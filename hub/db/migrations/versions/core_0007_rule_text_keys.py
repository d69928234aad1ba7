"""core: the automatic texts' keys are named after the office's rule, not after WhatsApp

Managers' overrides in `texts` move to the new keys (`hub.texts.RENAMED_KEYS`), so no customised
text is lost: `whatsapp.welcome` becomes `identify_first.welcome`, `whatsapp.reminder` becomes
`reminder.text`, and so on. Messages already sent and the audit trail keep the key they were
written with (history is not rewritten). A downgrade gives the overrides their old keys back.

Revision ID: core_0007
Revises: reports_0004
Create Date: 2026-12-04 16:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'core_0007'
down_revision: Union[str, Sequence[str], None] = 'reports_0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# A copy, not an import: a migration must keep meaning what it meant when it was written.
RENAMED = {
    "whatsapp.welcome": "identify_first.welcome",
    "whatsapp.welcome_back": "identify_first.welcome_back",
    "whatsapp.welcome_back_agent": "identify_first.welcome_back_agent",
    "whatsapp.welcome_back_outside_hours": "identify_first.welcome_back_outside_hours",
    "whatsapp.reminder": "reminder.text",
    "whatsapp.closed_unidentified": "unidentified_close.text",
    "idle_close": "idle_close.text",
    "whatsapp.agent_intro": "agent_intro.text",
    "whatsapp.agent_transfer": "agent_intro.transfer",
    "whatsapp.outside_hours": "outside_hours.text",
    "whatsapp.reply_waiting": "reply_window.waiting",
}

RENAME = sa.text('UPDATE texts SET "key" = :new WHERE "key" = :old')


def upgrade() -> None:
    op.get_bind().execute(RENAME, [{"old": old, "new": new} for old, new in RENAMED.items()])


def downgrade() -> None:
    op.get_bind().execute(RENAME, [{"old": new, "new": old} for old, new in RENAMED.items()])
