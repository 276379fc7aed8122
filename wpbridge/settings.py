"""Settings: built once from the environment (``WPBRIDGE_*``) and an optional TOML file.

Every other module receives the frozen :class:`Settings` object; nothing else reads the
environment. Precedence: explicit overrides > environment > TOML file > defaults.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import stat
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from wpbridge.classify import Rule, RuleError, parse_rules
from wpbridge.errors import SettingsError  # noqa: F401 - re-exported for the CLI modules
from wpbridge.relay.providers import ProviderConfig, parse_provider
from wpbridge.route import parse_routes


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("var")
    database_url: str = field(default="", repr=False)
    http_host: str = "127.0.0.1"
    http_port: int = 8025
    http_threads: int = 16
    # Addresses or networks of the reverse proxies in front of the HTTP API: only from them
    # are X-Forwarded-For and X-Forwarded-Proto believed (wpbridge/app.py).
    trusted_proxies: tuple[str, ...] = ()
    max_message_bytes: int = 25 * 1024 * 1024
    # Recipients (to, cc and bcc together) of one API message, as SMTP's smtp_max_recipients.
    max_recipients: int = 1000
    replay_window: int = 300
    # Site secrets are encrypted at rest with this key (urlsafe base64, 32 bytes).
    secret_key: str = field(default="", repr=False)
    sqlite_busy_timeout_ms: int = 5000
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)
    # The provider recipients are queued for; with no providers configured at all, the
    # worker delivers into the local capture outbox.
    default_provider: str = "default"
    tls_verify: bool = True
    ca_file: str | None = None
    # Provider SMTP timeouts (wpbridge/relay/smtp.py), seconds: the TCP connect; each command's
    # reply; the content and the reply after its final dot; the whole transaction, connect
    # included (a provider that trickles its replies is cut off there). smtp_timeout is also
    # the SMTP listener's idle timeout.
    smtp_connect_timeout: float = 10.0
    smtp_timeout: float = 30.0
    smtp_data_done_timeout: float = 120.0
    smtp_transaction_timeout: float = 180.0
    # Retry policy for temporary failures (see queue.RetryPolicy for the formula).
    retry_base: float = 60.0
    retry_factor: float = 2.0
    retry_max_delay: float = 3600.0
    retry_jitter: float = 0.25
    max_age: float = 4 * 24 * 3600.0
    worker_batch: int = 200
    # At most this many bulk recipients per claimed batch, so a receipt posted while a
    # newsletter drains waits for at most one short batch.
    worker_bulk_batch: int = 50
    worker_connections: int = 4
    worker_lease: float = 300.0
    worker_poll: float = 0.5
    # SIGTERM: transactions in flight get this long to finish; then they are cut off,
    # recorded as temporary failures, every lease goes back, and the worker exits.
    worker_grace: float = 30.0
    # category -> partial route table (see route.py); site name -> the same, overriding it.
    routes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    site_routes: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    # [[classify.rules]] for every site; [[sites.NAME.classify.rules]] for one (checked first).
    classify_rules: tuple[Rule, ...] = ()
    site_classify_rules: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)
    # The SMTP submission listener (wpbridge smtpd): STARTTLS and implicit-TLS ports.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2587  # 587 in production
    smtp_tls_port: int = 2465  # 465 in production
    smtp_processes: int = 1  # listener processes sharing the ports (SO_REUSEPORT), one per core
    smtp_hostname: str = ""  # greeting and generated certificate; "" = this host's name
    smtp_tls_cert: str = ""  # PEM chain; with neither set, a self-signed pair in the data dir
    smtp_tls_key: str = field(default="", repr=False)
    smtp_max_recipients: int = 1000
    smtp_normalise_line_endings: bool = False
    # After this many failed AUTH attempts from one client address within the window (seconds),
    # its AUTH is refused with 421 until the oldest failure leaves the window; 0: no limit.
    smtp_auth_max_failures: int = 10
    smtp_auth_failure_window: float = 900.0
    smtp_allow_plain_loopback: bool = False  # test only: AUTH without TLS from loopback
    smtp_trusted_loopback_site: str = ""  # test only: loopback clients submit as this site
    # Bounce handling: VERP domains whose MX is the bounce listener, and the policy.
    bounce_domains: tuple[str, ...] = ()
    bounce_listen: str = "127.0.0.1:2525"
    # Or, where the MX cannot point at the bridge: a mailbox to poll (imaps://user:pass@host/INBOX).
    bounce_mailbox: str = field(default="", repr=False)
    bounce_poll_interval: float = 60.0
    # Bounce parsing runs in worker processes, off the listener's event loop: this many at
    # once, on at most the first bounce_parse_bytes of a message, killed after
    # bounce_parse_timeout seconds (events/inbound.py).
    bounce_parse_workers: int = 2
    bounce_parse_bytes: int = 1024 * 1024
    bounce_parse_timeout: float = 10.0
    soft_limit: int = 3
    soft_days: float = 7.0
    soft_suppress_days: float = 30.0
    # site name -> {soft_limit, soft_days, soft_suppress_days}: [sites."name".bounce_policy]
    site_bounce_policy: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    # Sender authentication (wpbridge/auth/dns_store.py): bulk mail from a sending domain
    # without a DMARC record is held, unless allowed here for every site, or per site with
    # [sites."name"] allow_bulk_without_dmarc = true (or false, against the default).
    allow_bulk_without_dmarc: bool = False
    site_allow_bulk_without_dmarc: Mapping[str, bool] = field(default_factory=dict)
    # Seconds between a worker's looks for sending domains whose DNS check is due; 0: workers
    # never query DNS (checks then come only from 'wpbridge dns check').
    dns_recheck_interval: float = 120.0
    # Provider webhook secrets per site name: [sites."<name>".webhooks] (events/webhooks).
    site_webhooks: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False)
    # Shaping (wpbridge/shape): [shaping.destinations], [[shaping.reactions]], [warmup."domain"],
    # [sites."name".sending] bulk_window/timezone. Tuning numbers keep shape's defaults.
    destination_rates: Mapping[str, Any] = field(default_factory=dict)
    reactions: tuple = ()
    warmup: Mapping[str, Any] = field(default_factory=dict)
    site_sending: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # Alerts and reports (wpbridge/status/alerts.py): who hears of trouble, and how often.
    alert_operator_email: str = ""  # comma-separated; critical alerts
    alert_webhook_url: str = field(default="", repr=False)
    alert_slack_url: str = field(default="", repr=False)
    alert_smtp_url: str = field(default="", repr=False)  # direct SMTP when delivery itself is broken
    alert_from: str = ""
    alert_renotify: float = 14400.0
    alert_interval: float = 60.0
    alert_thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    report_period: str = ""  # day | week | month: send reports by themselves
    embed_token_ttl: int = 300
    status_session_ttl: int = 28800
    readyz_heartbeat: float = 60.0
    metrics_open: bool = False  # /metrics without an agency token
    # Data protection (wpbridge/privacy.py): message bodies, and whole log entries, are
    # dropped this many days after they were written (0 keeps them); workers check every
    # retention_interval seconds.
    body_retention_days: float = 30.0
    log_retention_days: float = 0.0
    retention_interval: float = 600.0
    # The bridge's address as recipients' mail programs reach it (one-click unsubscribe).
    public_url: str = ""
    # The site 'wpbridge serve' creates if it is missing (its --site and --domain).
    first_site: str = ""
    first_site_domains: tuple[str, ...] = ()

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def public_base(self) -> str:
        return (self.public_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


_INT = {"http_port", "http_threads", "max_message_bytes", "max_recipients", "replay_window",
        "sqlite_busy_timeout_ms", "worker_batch", "worker_bulk_batch", "worker_connections",
        "soft_limit", "smtp_port", "smtp_tls_port", "smtp_processes", "smtp_max_recipients", "embed_token_ttl",
        "status_session_ttl", "smtp_auth_max_failures", "bounce_parse_workers", "bounce_parse_bytes"}
_FLOAT = {"dns_recheck_interval", "body_retention_days", "log_retention_days", "retention_interval",
          "smtp_timeout", "retry_base", "retry_factor", "retry_max_delay", "retry_jitter",
          "max_age", "worker_lease", "worker_poll", "soft_days", "soft_suppress_days",
          "bounce_poll_interval", "alert_renotify", "alert_interval", "readyz_heartbeat",
          "smtp_auth_failure_window", "bounce_parse_timeout", "smtp_connect_timeout",
          "smtp_data_done_timeout", "smtp_transaction_timeout", "worker_grace"}
_BOOL = {"tls_verify", "smtp_normalise_line_endings", "smtp_allow_plain_loopback", "metrics_open",
         "allow_bulk_without_dmarc"}
_SIMPLE = {f.name for f in dataclasses.fields(Settings)} - {
    "providers", "data_dir", "routes", "site_routes", "classify_rules", "site_classify_rules",
    "site_webhooks", "alert_thresholds", "destination_rates", "reactions", "warmup", "site_sending",
    "site_bounce_policy", "site_allow_bulk_without_dmarc"}
WEBHOOK_KEYS = ("sendgrid_public_key", "mailgun_signing_key", "postmark_user",
                "postmark_password", "ses_topic_arn")


def load(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from ``environ`` (default: ``os.environ``) and the TOML file.

    :raise SettingsError: a value is malformed; the message names the variable.
    """
    env = os.environ if environ is None else environ
    data_dir = Path(overrides.pop("data_dir", None) or env.get("WPBRIDGE_DATA") or "var")
    values: dict[str, Any] = {}
    config_path = env.get("WPBRIDGE_CONFIG") or (data_dir / "wpbridge.toml")
    file_values: dict[str, Any] = {}
    if Path(config_path).is_file():
        with open(config_path, "rb") as fh:
            try:
                file_values = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"{config_path}: not valid TOML ({exc}); fix the file") from exc

    for name in _SIMPLE:
        raw = env.get("WPBRIDGE_" + name.upper())
        source = "WPBRIDGE_" + name.upper()
        if raw is None and name in file_values:
            raw, source = file_values[name], f"{config_path}: {name}"
        if raw is None:
            continue
        values[name] = _convert(name, raw, source)

    providers: dict[str, ProviderConfig] = {}
    for name, table in (file_values.get("providers") or {}).items():
        providers[name] = parse_provider(name, table)
    if env.get("WPBRIDGE_PROVIDER"):
        providers["default"] = parse_provider("default", {
            "url": env["WPBRIDGE_PROVIDER"],
            "username": env.get("WPBRIDGE_PROVIDER_USERNAME"),
            "password": env.get("WPBRIDGE_PROVIDER_PASSWORD"),
            "region": env.get("WPBRIDGE_PROVIDER_REGION"),
            "rates": env.get("WPBRIDGE_PROVIDER_RATES"),
            "connections": env.get("WPBRIDGE_PROVIDER_CONNECTIONS"),
            "messages_per_connection": env.get("WPBRIDGE_PROVIDER_MESSAGES_PER_CONNECTION"),
        })
    if "default_provider" not in values and providers and "default" not in providers:
        values["default_provider"] = next(iter(providers))
    values["providers"] = providers
    values["routes"] = parse_routes(file_values.get("routes") or {}, str(config_path))
    values["site_routes"] = {
        name: parse_routes(table.get("routes") or {}, f"{config_path}: sites.{name}")
        for name, table in (file_values.get("sites") or {}).items()}
    try:
        values["classify_rules"] = parse_rules(file_values.get("classify"), "classify.rules")
        values["site_classify_rules"] = {
            name: parse_rules(table.get("classify"), f"sites.{name}.classify.rules")
            for name, table in (file_values.get("sites") or {}).items() if table.get("classify")}
    except RuleError as exc:
        raise SettingsError(f"{config_path}: {exc}") from None
    values["site_bounce_policy"] = {}
    for name, table in (file_values.get("sites") or {}).items():
        policy = table.get("bounce_policy")
        if not policy:
            continue
        unknown = set(policy) - {"soft_limit", "soft_days", "soft_suppress_days"}
        if unknown or not all(isinstance(v, (int, float)) and v > 0 for v in policy.values()):
            raise SettingsError(f"{config_path}: [sites.\"{name}\".bounce_policy] takes positive "
                                "numbers soft_limit, soft_days, soft_suppress_days"
                                + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else ""))
        values["site_bounce_policy"][name.strip().lower().rstrip(".")] = dict(policy)
    values["site_allow_bulk_without_dmarc"] = {}
    for name, table in (file_values.get("sites") or {}).items():
        if "allow_bulk_without_dmarc" not in table:
            continue
        if not isinstance(table["allow_bulk_without_dmarc"], bool):
            raise SettingsError(f"{config_path}: [sites.\"{name}\"] allow_bulk_without_dmarc must be "
                                "true or false")
        values["site_allow_bulk_without_dmarc"][name.strip().lower().rstrip(".")] = \
            table["allow_bulk_without_dmarc"]
    shaping = file_values.get("shaping") or {}
    values["destination_rates"] = shaping.get("destinations") or {}
    values["reactions"] = tuple(shaping.get("reactions") or ())
    values["warmup"] = file_values.get("warmup") or {}
    values["site_sending"] = {name: table["sending"] for name, table in (file_values.get("sites") or {}).items()
                              if table.get("sending")}
    thresholds = file_values.get("alert_thresholds") or {}
    if not isinstance(thresholds, dict) or not all(isinstance(v, dict) for v in thresholds.values()):
        raise SettingsError(f"{config_path}: [alert_thresholds.<metric>] tables with warn/critical "
                            "numbers, e.g. [alert_thresholds.bounce_rate] warn = 0.03")
    values["alert_thresholds"] = thresholds
    values["site_webhooks"] = {
        name.strip().lower().rstrip("."):
            _webhook_secrets(table["webhooks"], f"{config_path}: sites.{name}.webhooks")
        for name, table in (file_values.get("sites") or {}).items() if table.get("webhooks")}
    values.update(overrides)
    values.setdefault("database_url", f"sqlite:///{(data_dir / 'wpbridge.db').resolve()}")
    if not str(values["database_url"]).startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
        scheme = str(values["database_url"]).partition(":")[0]  # never echo a password
        raise SettingsError(f"WPBRIDGE_DATABASE_URL: {scheme!r} is not a database the bridge "
                            "uses; give sqlite:///PATH or postgresql://user@host/database")
    settings = Settings(data_dir=data_dir, **values)
    if providers and settings.default_provider not in providers:
        raise SettingsError(
            f"default_provider {settings.default_provider!r} is not configured; "
            f"add it under [providers.{settings.default_provider}] or set WPBRIDGE_PROVIDER")
    for where, routes in [("routes", settings.routes)] + [
            (f"sites.{n}.routes", r) for n, r in settings.site_routes.items()]:
        for category, values in routes.items():
            for name in values.get("providers", []):
                if providers and name not in providers:
                    raise SettingsError(f"{config_path}: [{where}.{category}] names provider {name!r}, "
                                        f"which is not configured; add [providers.{name}]")
                if values.get("verp") and name in providers and not providers[name].keeps_envelope:
                    raise SettingsError(f"{config_path}: [{where}.{category}] uses verp, but provider "
                                        f"{name!r} replaces the envelope sender; its bounces come by "
                                        "webhook: remove verp from this route")
    from wpbridge.shape.config import ShapingConfig

    ShapingConfig.from_settings(settings)  # a malformed rate or rule fails here, named
    return settings


def _convert(name: str, raw: Any, source: str) -> Any:
    try:
        if name in _INT:
            return int(raw)
        if name in _FLOAT:
            return float(raw)
        if name in ("bounce_domains", "first_site_domains"):
            items = raw if isinstance(raw, list) else str(raw).split(",")
            return tuple(d.strip().lower() for d in items if d.strip())
        if name == "trusted_proxies":
            items = raw if isinstance(raw, list) else str(raw).split(",")
            return tuple(_network(str(i).strip(), source) for i in items if str(i).strip())
        if name in _BOOL:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in {"1", "true", "yes", "on"}:
                return True
            if str(raw).lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
    except ValueError:
        kind = "an integer" if name in _INT else "a number" if name in _FLOAT else "true or false"
        raise SettingsError(f"{source}: {raw!r} is not {kind}; set it to {kind}") from None
    return str(raw)


def _network(value: str, source: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise SettingsError(f"{source}: {value!r} is not an IP address or network; give "
                            "addresses or CIDR networks, e.g. 127.0.0.1,10.0.0.0/8") from None


def _webhook_secrets(table: Any, where: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise SettingsError(f"{where}: must be a table with some of {', '.join(WEBHOOK_KEYS)}")
    unknown = sorted(set(table) - set(WEBHOOK_KEYS))
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                            f"the keys are {', '.join(WEBHOOK_KEYS)}")
    empty = sorted(k for k, v in table.items() if not isinstance(v, str) or not v.strip())
    if empty:
        raise SettingsError(f"{where}: {', '.join(empty)} must be a non-empty string")
    return {k: v.strip() for k, v in table.items()}


PRIVATE_UMASK = 0o077  # files the bridge makes: 0600, directories: 0700


def protect_data(settings: Settings) -> list[str]:
    """Keep mail and keys private to the bridge's user: set the umask of this process (and
    of the processes it starts) to 0o077, then take group and other access away from the
    data directory (0700), everything under it, and a SQLite database kept elsewhere (its
    ``-wal`` and ``-shm`` too). Returns what it changed; each change is logged as a warning,
    since it means another local user could read what was there."""
    os.umask(PRIVATE_UMASK)
    paths = []
    if settings.data_dir.is_dir():
        paths.append(settings.data_dir)
        # An open directory (an older bridge made it): everything under it may be exposed.
        # A private one protects what is deeper; only its own entries are looked at.
        open_dir = settings.data_dir.stat().st_mode & 0o077
        paths += settings.data_dir.rglob("*") if open_dir else settings.data_dir.iterdir()
    if settings.is_sqlite and ":memory:" not in settings.database_url:
        db = Path(settings.database_url.split("///", 1)[-1])
        paths += [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    changed = []
    for path in dict.fromkeys(paths):
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o077:
            continue
        private = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        os.chmod(path, private)
        changed.append(f"{path} was {stat.S_IMODE(st.st_mode):04o}, now {private:04o}")
    for line in changed:
        logging.getLogger("wpbridge").warning("other local users could read %s", line)
    return changed


def ensure_secret_key(settings: Settings) -> Settings:
    """Return settings with a secret key, creating ``<data>/secret.key`` (0600) once.
    Every process starts here, so it first makes the data private (:func:`protect_data`)."""
    protect_data(settings)
    if settings.secret_key:
        return settings
    path = settings.data_dir / "secret.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
    return settings.replace(secret_key=path.read_text().strip())
