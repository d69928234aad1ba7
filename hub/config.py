"""The hub's configuration: the core's `HUB_*` variables, parsed once into a typed object.

A channel's provider settings are the channel's (`channels/*/config.py`: the Twilio account in
`channels/whatsapp/config.py`, the mailbox and the SMTP server in `channels/email/config.py`),
read from the same environment by the same rules; the core reads none of them.

Variables come from the environment and from an optional `.env` file in the working
directory (the environment wins). A bad value raises `ConfigError`, whose message names the
variable and what was expected; the command line prints it and stops.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")


def parse_duration(value: object) -> timedelta:
    """`20m`, `90s`, `1h`, `1h30m`, `14d`; a bare number is seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    text = str(value).strip().lower()
    if text.isdigit():
        return timedelta(seconds=int(text))
    match = _DURATION.match(text)
    if not text or not match or not any(match.groups()):
        raise ValueError(f"expected a duration such as 20m, 90s, 1h or 14d, got {value!r}")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Language = Literal["ca", "es", "en"]
LANGUAGES: tuple[str, ...] = ("ca", "es", "en")


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message is meant for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HUB_", env_file=".env", env_file_encoding="utf-8", extra="ignore",
        validate_default=True, populate_by_name=True,
    )

    # Storage and background work
    database_url: str = ""
    broker_url: str = ""
    redis_url: str = ""
    data_dir: Path = Path("var")
    # Where attachment files live (hub/storage.py): this host's `data_dir`, or the database (every host).
    attachments: Literal["local", "database"] = "local"

    # Web
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    language: Language = "ca"
    timezone: str = "Europe/Madrid"
    reference_prefix: str = Field(default="OAC", pattern=r"^[A-Z][A-Z0-9]{0,9}$")
    # The number citizens write to, for the entry points' click-to-chat links; default: the
    # WhatsApp channel's sender (`HubContext.facts`). Published as HUB_WHATSAPP_NUMBER.
    click_to_chat_number: str = Field(default="", pattern=r"^(whatsapp:)?\+?[0-9 ]{0,20}$",
                                      validation_alias="HUB_WHATSAPP_NUMBER")

    # Accounts (docs/security.md, "Accounts and sign-in")
    token_ttl: Duration = timedelta(hours=12)  # API tokens
    session_lifetime: Duration = timedelta(hours=10)  # a browser session, from sign-in, however active
    require_2fa: str = "admin"  # roles that must sign in with a second factor: "admin,manager", "none"
    # Sign-in with the city's identity provider (OpenID Connect); off while the issuer is empty.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_role_claim: str = "hub_role"  # a claim whose value (or list of values) names the role
    oidc_scopes: str = "openid email profile"

    # The office's rules for a conversation the citizen starts (hub/tickets.py), named after the
    # rule. The first four keep the variable names they were published with (HUB_WHATSAPP_*),
    # however the setting is called here: `validation_alias` is the variable.
    # Identify first: a new conversation is asked the citizen's name before an agent takes it;
    # one who gave their name within this period is welcomed back by name instead (0 = always ask).
    remember_name_for: Duration = Field(default=timedelta(days=30), validation_alias="HUB_WHATSAPP_REMEMBER_NAME")
    # Reminder: no name after this much silence, a reminder; after as much again, the
    # conversation is closed as unidentified.
    reminder_after: Duration = Field(default=timedelta(minutes=20), validation_alias="HUB_WHATSAPP_REMINDER_AFTER")
    unidentified_close_after: Duration = Field(default=timedelta(minutes=20), validation_alias="HUB_WHATSAPP_CLOSE_AFTER")
    # Agent introduction: the agent who takes a consultation is named by first or full name.
    agent_intro_name: Literal["first", "full"] = Field(default="first", validation_alias="HUB_WHATSAPP_AGENT_NAME")
    survey_valid_for: Duration = timedelta(days=14)
    # Idle close: a consultation pending on the citizen after an agent's reply is resolved after
    # this much silence (with a polite message, without a survey); 0 never.
    idle_close_after: Duration = timedelta(hours=72)
    auto_assign: bool = True
    office_name: str = "Lleida"

    # The office's calendar (hub/calendar.py); admins edit hours and closures in settings
    office_hours: str = "mon-fri 08:30-14:30"
    holidays: str = "ES-CT"
    sla_first_response: Duration = timedelta(minutes=30)

    # Phone: numbers written without a country code belong to this region (ISO 3166 code)
    phone_region: str = "ES"

    # Personal data: closed consultations are anonymised this long after closing (0: never)
    retention: Duration = timedelta(days=730)

    # Who may read /metrics: these networks (comma-separated), or a bearer token
    metrics_allow: str = "127.0.0.0/8,::1"
    metrics_token: str = ""

    # Background work tuning
    outbox_max_attempts: int = Field(default=8, ge=1, le=100)
    outbox_stuck_after: Duration = timedelta(seconds=2)  # a due row no worker took by then is relayed
    outbox_lease: Duration = timedelta(seconds=6)  # renewed while a send lasts; a dead worker's row frees after it
    scheduler_interval: Duration = timedelta(milliseconds=500)

    @field_validator("database_url", "broker_url", "redis_url")
    @classmethod
    def _no_spaces(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError("must not start or end with spaces")
        return value

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "amqp://", "amqps://", "stub://")):
            raise ValueError("expected redis://..., amqp://... or empty for the in-process broker")
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        import ipaddress

        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"expected networks such as 10.0.0.0/8, got {part!r}") from None
        return value

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        import phonenumbers

        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"expected a two-letter country code such as ES, got {value!r}")
        return region

    @field_validator("office_hours")
    @classmethod
    def _office_hours(cls, value: str) -> str:
        from hub.calendar import CalendarError, parse_office_hours

        try:
            return parse_office_hours(value, "").format()
        except CalendarError as exc:
            raise ValueError(str(exc).removeprefix(": ")) from None

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: str) -> str:
        from hub.calendar import CalendarError, parse_holidays

        try:
            return parse_holidays(value, "").format()
        except CalendarError as exc:
            raise ValueError(str(exc).removeprefix(": ")) from None

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("expected the identity provider's https:// issuer URL")
        return value

    @field_validator("oidc_client_id")
    @classmethod
    def _client_id(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("oidc_issuer") and not value.strip():
            raise ValueError("needed when HUB_OIDC_ISSUER is set")
        return value.strip()

    @field_validator("require_2fa")
    @classmethod
    def _roles(cls, value: str) -> str:
        roles = [r.strip().lower() for r in value.split(",") if r.strip()]
        if roles in (["none"], []):
            return ""
        unknown = [r for r in roles if r not in ("agent", "manager", "admin")]
        if unknown:
            raise ValueError(f"expected roles among agent, manager, admin (or none), got {', '.join(unknown)}")
        return ",".join(roles)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected a time zone such as Europe/Madrid, got {value!r}") from None
        return value

    @field_validator("reminder_after", "unidentified_close_after", "sla_first_response", "token_ttl",
                     "session_lifetime")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    # Derived values -----------------------------------------------------------------

    @property
    def two_factor_roles(self) -> frozenset[str]:
        return frozenset(r for r in self.require_2fa.split(",") if r)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'hub.sqlite3').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


def resolve_secret_key(settings: Settings, *, embedded: bool) -> str:
    """Put the installation's secret key into `settings` before anything signs with it.

    `HUB_SECRET_KEY` when set; on embedded defaults (`hub run`) a key generated once and kept
    in `data_dir/secret_key` (mode 0600). A separate process (`hub web`, `hub worker`) must be
    given the key every instance shares. Nothing ever signs with an empty or constant key.
    """
    if not settings.secret_key:
        if not embedded:
            raise ConfigError("HUB_SECRET_KEY: must be set (every process of a deployment shares it)")
        import os
        import secrets

        path = Path(settings.data_dir) / "secret_key"
        if path.exists():
            key = path.read_text().strip()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_urlsafe(48)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(key + "\n")
        if not key:
            raise ConfigError(f"HUB_SECRET_KEY: not set and {path} is empty")
        settings.secret_key = key
    return settings.secret_key


def require_secret_key(settings: Settings) -> bytes:
    """The key to sign with; refuses to sign with nothing (a constant would be forgeable)."""
    if not settings.secret_key:
        raise ConfigError("HUB_SECRET_KEY: no secret key was resolved before signing")
    return settings.secret_key.encode()


def variable_name(model: type[BaseSettings], loc: tuple[int | str, ...]) -> str:
    """The environment variable behind a validation error's location: `HUB_<FIELD>`, or the
    variable a field renamed in code still reads (its `validation_alias`)."""
    first = str(loc[0]) if loc else ""
    if first.upper().startswith("HUB_"):
        return first.upper()
    field = model.model_fields.get(first)
    if field is not None and isinstance(field.validation_alias, str):
        return field.validation_alias.upper()
    return "HUB_" + "_".join(str(p) for p in loc).upper()


def settings_error(model: type[BaseSettings], exc: ValidationError) -> ConfigError:
    """A `ConfigError` naming every bad variable, one per line."""
    lines = [f"{variable_name(model, tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
    return ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


def load_settings(**overrides: object) -> Settings:
    """Read the configuration; raise `ConfigError` naming every bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise settings_error(Settings, exc) from None
