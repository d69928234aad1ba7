"""Finding 13.1: the generated secret key signs everything; nothing falls back to a constant.

Reproduction: with no Twilio credentials and no HUB_SECRET_KEY, the sandbox webhook secret was
HMAC("contact-hub-sandbox", "twilio-sandbox-webhooks") (readable in the source), so anyone could
sign a webhook the hub stored as a ticket; email Message-IDs were signed with an empty key.
"""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlmodel import func, select
from twilio.request_validator import RequestValidator

from entrypoints.web import create_app
from channels.email.sender import message_id_for
from channels.twilio_webhooks import sandbox_token
from hub.config import ConfigError, resolve_secret_key
from hub.db.tables import Inbox
from tests.conftest import make_settings

FORM = {"MessageSid": "SM" + "f" * 32, "AccountSid": "AC" + "0" * 32, "From": "whatsapp:+34600111222",
        "To": "whatsapp:+34622846272", "Body": "forged", "NumMedia": "0"}


def _source_constant_secret() -> str:
    return hmac.new(b"contact-hub-sandbox", b"twilio-sandbox-webhooks", hashlib.sha256).hexdigest()


async def test_a_webhook_signed_with_the_constant_from_the_source_is_refused_on_embedded_defaults(
    tmp_path: Path, db_url: str,
) -> None:
    settings = make_settings(tmp_path, db_url, secret_key="", public_url="http://127.0.0.1:8000")
    app = create_app(settings, embedded=True)
    key_file = settings.data_dir / "secret_key"
    assert settings.secret_key and settings.secret_key == key_file.read_text().strip()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    url = settings.public_url + "/webhooks/twilio/whatsapp"
    forged = RequestValidator(_source_constant_secret()).compute_signature(url, FORM)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        answer = client.post("/webhooks/twilio/whatsapp", data=FORM, headers={"X-Twilio-Signature": forged})
        assert answer.status_code == 403
        # The installation's own sandbox secret (what the simulator uses) still works.
        genuine = RequestValidator(sandbox_token(settings)).compute_signature(url, FORM)
        assert genuine != forged
        ok = client.post("/webhooks/twilio/whatsapp", data=FORM, headers={"X-Twilio-Signature": genuine})
        assert ok.status_code == 200
        ctx = app.state.ctx
        async with ctx.sessionmaker() as session:
            stored = (await session.exec(select(func.count()).select_from(Inbox))).one()
        assert stored == 1  # only the genuine one


def test_nothing_signs_with_an_empty_key(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, secret_key="")
    with pytest.raises(ConfigError):
        sandbox_token(settings)
    with pytest.raises(ValueError):
        message_id_for(7, "", "paeria.cat")
    with pytest.raises(ConfigError):
        resolve_secret_key(settings, embedded=False)  # a separate process must be given the key


def test_the_generated_key_is_kept_and_reused(tmp_path: Path, db_url: str) -> None:
    first = make_settings(tmp_path, db_url, secret_key="")
    second = make_settings(tmp_path, db_url, secret_key="")
    key = resolve_secret_key(first, embedded=True)
    assert len(key) >= 32 and resolve_secret_key(second, embedded=True) == key
    assert message_id_for(7, first.secret_key, "x.org") != message_id_for(7, "other", "x.org")
