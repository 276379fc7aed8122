"""Provider configuration: SMTP URLs and named presets.

A provider is written as a URL (``smtp://``, ``smtp+starttls://``, ``smtps://``, or
``outbox:`` for the local capture outbox) or as a preset name that fills host, port and TLS
mode. Provider knowledge lives in the ``PRESETS`` table, not in code paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qs, unquote, urlsplit

from wpbridge.errors import SettingsError

# scheme -> (tls mode, default port)
SCHEMES = {
    "smtp": ("none", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("implicit", 465),
}

# preset -> (host template, port, tls mode, default username, keeps the envelope sender).
# {region} is filled in. Providers that put their own Return-Path (and report bounces by
# webhook instead) cannot carry VERP addresses.
PRESETS = {
    "sendgrid": ("smtp.sendgrid.net", 587, "starttls", "apikey", False),
    "ses": ("email-smtp.{region}.amazonaws.com", 587, "starttls", None, False),
    "mailgun": ("smtp.mailgun.org", 587, "starttls", None, False),
    "mailgun-eu": ("smtp.eu.mailgun.org", 587, "starttls", None, False),
    "google-workspace": ("smtp-relay.gmail.com", 587, "starttls", None, True),
    "postmark": ("smtp.postmarkapp.com", 587, "starttls", None, False),
    "brevo": ("smtp-relay.brevo.com", 587, "starttls", None, False),
}
PRESET_DEFAULT_REGION = {"ses": "us-east-1"}


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    kind: str  # "smtp" or "outbox"
    host: str = ""
    port: int = 0
    tls: str = "none"  # none | starttls | implicit
    username: str | None = None
    password: str | None = None
    helo: str | None = None
    keeps_envelope: bool = True
    # Limits of this account (see wpbridge/shape): ["14/s", "50000/day"], connections at once
    # across all workers, and messages per connection.
    rates: tuple[str, ...] = ()
    connections: int | None = None
    messages_per_connection: int | None = None

    def __repr__(self) -> str:  # never print the password
        return (f"ProviderConfig(name={self.name!r}, kind={self.kind!r}, host={self.host!r}, "
                f"port={self.port}, tls={self.tls!r}, username={self.username!r})")

    def describe(self) -> str:
        if self.kind == "outbox":
            return "local capture outbox (nothing leaves this machine)"
        return f"{self.host}:{self.port} ({self.tls} TLS)" if self.tls != "none" else \
            f"{self.host}:{self.port} (no TLS)"


OUTBOX = ProviderConfig(name="outbox", kind="outbox")


def parse_provider(name: str, table: Mapping[str, Any]) -> ProviderConfig:
    """Build a provider from ``{"url": ..., "preset": ..., "region": ..., "username": ...}``.

    ``url`` may also be a bare preset name (``WPBRIDGE_PROVIDER=sendgrid``); a preset may be
    written ``ses:eu-west-1`` or ``mailgun:eu``.

    :raise SettingsError: unknown scheme or preset; the message lists the valid ones.
    """

    url = (table.get("url") or table.get("preset") or "").strip()
    rates = table.get("rates") or ()
    if isinstance(rates, str):
        rates = [r.strip() for r in rates.split(",") if r.strip()]
    limits = {"rates": tuple(rates), "connections": _int_or_none(table.get("connections")),
              "messages_per_connection": _int_or_none(table.get("messages_per_connection"))}
    username = table.get("username") or None
    password = table.get("password") or None
    region = table.get("region") or None
    if url in ("outbox", "outbox:"):
        return ProviderConfig(name=name, kind="outbox", **limits)
    preset, _, suffix = url.partition(":")
    if preset == "mailgun" and suffix == "eu":
        preset, suffix = "mailgun-eu", ""
    if preset in PRESETS and not suffix.startswith("//"):
        host, port, tls, default_user, keeps = PRESETS[preset]
        region = suffix or region or PRESET_DEFAULT_REGION.get(preset, "")
        return ProviderConfig(name=name, kind="smtp", host=host.format(region=region), port=port,
                              tls=tls, username=username or default_user, password=password,
                              keeps_envelope=keeps, **limits)
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise SettingsError(
            f"provider {name}: {url.split('@')[-1]!r} is neither an SMTP URL "
            f"({', '.join(s + '://' for s in SCHEMES)}) nor a preset "
            f"({', '.join(sorted(PRESETS))}, outbox); fix the provider setting")
    if not parts.hostname:
        raise SettingsError(f"provider {name}: the URL has no host; write e.g. smtp+starttls://user:pass@smtp.example.com:587")
    tls, default_port = SCHEMES[parts.scheme]
    query = parse_qs(parts.query)
    return ProviderConfig(
        name=name, kind="smtp", host=parts.hostname, port=parts.port or default_port, tls=tls,
        username=unquote(parts.username) if parts.username else username,
        password=unquote(parts.password) if parts.password else password,
        helo=(query.get("helo") or [None])[0], **limits,
    )


def _int_or_none(value) -> int | None:

    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{value!r} is not a whole number (connections, messages_per_connection)") from None
