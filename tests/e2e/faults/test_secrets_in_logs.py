"""No secret in the logs of the running processes: passwords, tokens, signatures, keys.

A flow that handles every kind of secret (a login with a password, a wrong password, an API
token, a forged token, signed and badly signed webhooks, deliveries authenticated with the
Twilio token) runs against `hub web`, `hub worker` and `hub scheduler`; then their complete
output is searched for each secret. (tests/integration/security/test_secrets_in_logs.py does the same
in-process at DEBUG level.)
"""

from __future__ import annotations

import base64

import httpx

from tests.support.faults import Topology
from tests.support.fault_stack import SECRET_KEY, wait_for
from tests.support import fake_twilio


def test_no_secret_reaches_the_logs(topology: Topology) -> None:
    wrong_password = "Wrong-Passw0rd-7731"
    token = topology.token()
    forged = "hub_forged-token-value-9c2e7d"
    r = httpx.post(f"{topology.base}/api/v1/auth/token",
                   json={"email": "agent@example.org", "password": wrong_password}, timeout=10)
    assert r.status_code == 401
    api = httpx.Client(base_url=topology.base, timeout=10)
    assert api.get("/api/v1/queue", headers={"authorization": f"Bearer {forged}"}).status_code == 401
    form = fake_twilio.inbound_form("SMsecret000000000000000000000001", "Hola", number="+34600777001")
    url = topology.base + "/webhooks/twilio/whatsapp"
    signature = fake_twilio.sign(topology.twilio.auth_token, url, form)
    assert api.post("/webhooks/twilio/whatsapp", data=form, headers={"X-Twilio-Signature": signature}).status_code == 200
    bad_signature = "c2lnbmF0dXJlLXRoYXQtaXMtd3Jvbmc="
    assert api.post("/webhooks/twilio/whatsapp", data=form, headers={"X-Twilio-Signature": bad_signature}).status_code == 403
    wait_for(lambda: topology.twilio.sent(), 30, "the welcome to be sent (Twilio basic auth used)")
    assert api.get("/api/v1/queue", headers={"authorization": f"Bearer {token}"}).status_code == 200

    basic = base64.b64encode(f"{topology.twilio.account_sid}:{topology.twilio.auth_token}".encode()).decode()
    secrets = {
        "Twilio auth token": topology.twilio.auth_token, "Twilio basic auth": basic, "secret key": SECRET_KEY,
        "agent password": "fault-password-1", "wrong password": wrong_password, "API token": token,
        "API token body": token.removeprefix("hub_"), "forged token": forged, "signature": signature,
        "bad signature": bad_signature,
    }
    logs = topology.all_output()
    assert "HTTP" in logs or "scheduler" in logs  # the processes did log something
    leaked = [name for name, value in secrets.items() if value and value in logs]
    assert not leaked, f"secrets in the logs: {leaked}"
