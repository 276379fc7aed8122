"""The ``wpbridge`` command: run the bridge's parts and manage sites."""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import subprocess
import sys
import time

import click
from sqlalchemy.exc import DBAPIError

from wpbridge import db, settings as settings_mod, sites
from wpbridge.errors import DatabaseUnavailable
from wpbridge.settings import SettingsError


def _settings() -> settings_mod.Settings:
    try:
        return settings_mod.ensure_secret_key(settings_mod.load())
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot create the secret key in the data directory: {exc}; "
                                   "check WPBRIDGE_DATA and its permissions, or set "
                                   "WPBRIDGE_SECRET_KEY") from None


def _sessions(settings):
    return db.make_sessionmaker(db.make_engine(settings))


class _Commands(click.Group):
    """Every expected condition ends a command with one line naming the problem and the fix
    ("Error: ..."), never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (SettingsError, DatabaseUnavailable, sites.SiteError) as exc:
            raise click.ClickException(str(exc)) from None
        except DBAPIError as exc:
            try:
                settings = settings_mod.load()
            except SettingsError:
                raise click.ClickException(f"the database failed: {exc.orig or exc}") from None
            raise click.ClickException(str(db.unavailable(settings, exc))) from None


@click.group(cls=_Commands)
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """wpbridge: durable, authenticated mail for WordPress and WooCommerce sites."""
    os.umask(settings_mod.PRIVATE_UMASK)  # before anything writes: mail and keys are private
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)


from wpbridge.classify_cli import classify_command  # noqa: E402
from wpbridge.events.cli import bounces_command  # noqa: E402
from wpbridge.ingest.smtp import smtpd_command  # noqa: E402

main.add_command(classify_command, "classify")
main.add_command(bounces_command, "bounces")
main.add_command(smtpd_command, "smtpd")

from wpbridge.status.cli import admin_command, alerts_command, report_command  # noqa: E402
from wpbridge.auth.cli import dkim_command, dns_command  # noqa: E402
from wpbridge.shape.cli import bulk_command, providers_command  # noqa: E402

main.add_command(admin_command)
main.add_command(alerts_command)
main.add_command(report_command)
main.add_command(dns_command, "dns")
main.add_command(providers_command, "providers")
main.add_command(bulk_command, "bulk")
main.add_command(dkim_command, "dkim")


def _parse_bind(value: str | None, settings) -> tuple[str, int]:
    if not value:
        return settings.http_host, settings.http_port
    host, _, port = value.rpartition(":")
    try:
        return host or settings.http_host, int(port)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not HOST:PORT, e.g. 127.0.0.1:8025") from None


def _print_credentials(site_name: str, creds: sites.Credentials, url: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"site": site_name, "key_id": creds.key_id, "secret": creds.secret,
                               "url": url}))
        return
    click.echo(f"site:    {site_name}\nkey id:  {creds.key_id}\nsecret:  {creds.secret}\n"
               "(the secret is shown this once; 'wpbridge site rotate-secret' makes a new one)\n\n"
               "Add to wp-config.php:\n"
               f"define( 'WPBRIDGE_URL', '{url}' );\n"
               f"define( 'WPBRIDGE_KEY_ID', '{creds.key_id}' );\n"
               f"define( 'WPBRIDGE_SECRET', '{creds.secret}' );")


FALLBACK_SITE = "localhost.localdomain"


def _first_site(session, settings, name: str | None, domains: tuple[str, ...], url: str) -> None:
    """Create the site ``serve`` was told about (or, on a bridge without sites, a stand-in),
    or add the domains it was given; print credentials only when they are new."""
    name = name or settings.first_site
    domains = tuple(domains) or settings.first_site_domains
    existing = sites.all_sites(session)
    if not name and existing:
        return
    if not name:
        name = FALLBACK_SITE
        click.secho(f"First start: created the site {name}. Name your shop's instead: "
                    "wpbridge serve --site shop.example.com --domain example.com", bold=True)
    elif any(s.name == sites.normalise_domain(name) for s in existing):
        if domains:
            sites.add_domains(session, name, list(domains))
        return
    else:
        click.secho(f"Created the site {sites.normalise_domain(name)}.", bold=True)
    site, creds = sites.create(session, settings.secret_key, name, list(domains) or None)
    _print_credentials(site.name, creds, url, False)
    click.echo("")


def _senders_line(site) -> str:
    """Which From domains a site may use, what happens to others, and how to add one."""
    from wpbridge.ingest.sender import default_sender

    domains = [d.domain for d in site.domains]
    other = (f"other senders become {default_sender(site.default_from, domains)} (original in "
             "Reply-To)" if site.from_policy == "rewrite" else "other senders are refused")
    return (f"Site {site.name} may send From: {', '.join(domains)}"
            f"{' and their subdomains' if site.subdomains else ' (exactly)'}; {other}. Add a domain: "
            f"wpbridge site domains add {site.name} DOMAIN; change this: wpbridge site senders {site.name}")


def _sender_banner(session) -> None:
    listed = sites.all_sites(session)
    for s in listed[:5]:
        click.echo(_senders_line(s), err=True)
    if len(listed) > 5:
        click.echo(f"... and {len(listed) - 5} more sites: wpbridge site list", err=True)


@main.command()
@click.option("--http", "bind", metavar="HOST:PORT", help="Where the HTTP API listens (127.0.0.1:8025).")
@click.option("--site", "site_name", metavar="NAME", help="The shop's site, e.g. shop.example.com "
              "(created if missing; default: the first_site setting).")
@click.option("--domain", "domains", multiple=True, metavar="DOMAIN",
              help="A sending domain of --site, e.g. example.com (repeatable; default: the site's name).")
def serve(bind: str | None, site_name: str | None, domains: tuple[str, ...]) -> None:
    """Run the whole bridge on this machine: database, HTTP API and a worker.

    Creates or upgrades the database, creates the site named by --site (or, on a bridge
    without sites, a stand-in), and stops everything cleanly on Ctrl-C.
    """
    settings = _settings()
    host, port = _parse_bind(bind, settings)
    if domains and not (site_name or settings.first_site):
        raise click.UsageError("--domain needs --site: wpbridge serve --site shop.example.com "
                               "--domain example.com")
    db.ensure_schema(settings)
    sessions = _sessions(settings)
    with sessions() as session, session.begin():
        _first_site(session, settings, site_name, domains, f"http://{host}:{port}")
    with sessions() as session:
        _sender_banner(session)
    if not settings.providers:
        click.secho("NOTICE: no provider configured. Mail goes to the local capture outbox "
                    f"({settings.outbox_dir}); NOTHING LEAVES THIS MACHINE. 'wpbridge outbox' lists "
                    "it; set WPBRIDGE_PROVIDER (e.g. smtp+starttls://user:pass@smtp.example.com:587 "
                    "or sendgrid) to deliver.", fg="yellow", bold=True, err=True)
    env = dict(os.environ, WPBRIDGE_DATA=str(settings.data_dir), WPBRIDGE_HTTP_HOST=host,
               WPBRIDGE_HTTP_PORT=str(port), WPBRIDGE_SECRET_KEY=settings.secret_key)
    parts = [["web"], ["worker"], ["smtpd"]]
    if settings.bounce_domains:
        parts.append(["bounces", "listen"])
    if settings.bounce_domains and settings.bounce_mailbox:
        parts.append(["bounces", "poll"])
    children = [subprocess.Popen([sys.executable, "-m", "wpbridge", *part], env=env) for part in parts]
    click.echo(f"wpbridge is running: HTTP on http://{host}:{port}; SMTP submission on "
               f"{settings.smtp_host}:{settings.smtp_port} (STARTTLS) and {settings.smtp_tls_port} (TLS), "
               f"user = key id, password = secret; data in {settings.data_dir}. Ctrl-C stops it.",
               err=True)
    stopping = False

    def _stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stopping and all(c.poll() is None for c in children):
        time.sleep(0.2)
    for c in children:
        if c.poll() is None:
            c.send_signal(signal.SIGTERM)
    # The worker takes up to worker_grace for the transactions in flight, then a moment to
    # record them and give back its leases; whatever is left after that is killed.
    ends = time.monotonic() + settings.worker_grace + 4
    code = 0
    for c in children:
        try:
            code = code or c.wait(timeout=max(0.1, ends - time.monotonic()))
        except subprocess.TimeoutExpired:
            c.kill()
            c.wait()
            code = 1
    if not stopping:
        raise click.ClickException("a part of the bridge stopped unexpectedly; see the log above")
    sys.exit(code if code > 0 else 0)


@main.command()
@click.option("--http", "bind", metavar="HOST:PORT", help="Where to listen.")
@click.option("--workers", default=1, show_default=True, help="gunicorn worker processes.")
def web(bind: str | None, workers: int) -> None:
    """Run only the HTTP API (gunicorn); many may run against one PostgreSQL."""
    from gunicorn.app.base import BaseApplication

    from wpbridge.app import create_app

    settings = _settings()
    host, port = _parse_bind(bind, settings)

    class _App(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", settings.http_threads)
            self.cfg.set("graceful_timeout", 10)
            self.cfg.set("keepalive", 30)
            self.cfg.set("umask", settings_mod.PRIVATE_UMASK)
            # gunicorn believes X-Forwarded-Proto from loopback by itself; the bridge's own
            # rule (trusted_proxies, wpbridge/app.py) is the only one.
            self.cfg.set("forwarded_allow_ips", "")
            # Several bridges may run on one host; the cfg key exists in gunicorn >= 24.
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)

        def load(self):
            return create_app(settings)

    _App().run()


@main.command()
@click.option("--once", is_flag=True, help="Exit when nothing is due (for cron and tests).")
def worker(once: bool) -> None:
    """Run only a delivery worker; many may run against one PostgreSQL."""
    from wpbridge.worker import Worker

    w = Worker(_settings())
    w.install_signal_handlers()
    w.run(idle_exit=once)


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema (every command that needs it does this too)."""
    db.upgrade(_settings())
    click.echo("database is up to date")


@main.group("site")
def site_group() -> None:
    """Sites (tenants): credentials, sending domains, quotas."""


@site_group.command("add")
@click.argument("name")
@click.option("--domain", "domains", multiple=True, help="A sending domain (repeatable; default: NAME).")
@click.option("--hourly", type=int, help="Most recipients per hour.")
@click.option("--daily", type=int, help="Most recipients per day.")
@click.option("--json", "as_json", is_flag=True, help="Print the credentials as JSON.")
def site_add(name, domains, hourly, daily, as_json) -> None:
    """Create a site and print its key id and secret (shown once)."""
    settings = _settings()
    with _sessions(settings)() as session, session.begin():
        try:
            site, creds = sites.create(session, settings.secret_key, name, list(domains) or None,
                                       hourly, daily)
        except sites.SiteError as exc:
            raise click.ClickException(str(exc)) from None
        site_name = site.name
    _print_credentials(site_name, creds, f"http://{settings.http_host}:{settings.http_port}", as_json)


@site_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def site_list(as_json: bool) -> None:
    """List the sites with their key ids, sending domains and quotas (never secrets)."""
    settings = _settings()
    with _sessions(settings)() as session:
        rows = [{"site": s.name, "key_id": s.key_id, "domains": [d.domain for d in s.domains],
                 "hourly_quota": s.hourly_quota, "daily_quota": s.daily_quota}
                for s in sites.all_sites(session)]
    if not rows and not as_json:
        click.echo("No sites yet. Create one with: wpbridge site add shop.example.com --domain "
                   "example.com (or start the bridge: wpbridge serve --site shop.example.com "
                   "--domain example.com)", err=True)
    for r in rows:
        click.echo(json.dumps(r) if as_json else
                   f"{r['site']}\t{r['key_id']}\t{','.join(r['domains'])}\t"
                   f"hourly={r['hourly_quota'] or '-'} daily={r['daily_quota'] or '-'}")


def _site_op(fn, *args):
    settings = _settings()
    with _sessions(settings)() as session, session.begin():
        try:
            return fn(session, *args)
        except sites.SiteError as exc:
            raise click.ClickException(str(exc)) from None


@site_group.group("domains")
def domains_group() -> None:
    """A site's sending domains."""


@domains_group.command("add")
@click.argument("name")
@click.argument("domains", nargs=-1, required=True)
def domains_add(name, domains) -> None:
    """Allow a site to send from more domains."""
    site = _site_op(sites.add_domains, name, list(domains))
    click.echo(f"{site.name}: {', '.join(d.domain for d in site.domains)}")


@site_group.command("senders")
@click.argument("name")
@click.option("--from-policy", type=click.Choice(["rewrite", "refuse"]),
              help="A From outside the sending domains: rewrite it to the default sender "
                   "(original to Reply-To), or refuse the message.")
@click.option("--default-from", metavar="ADDRESS",
              help="The sender a rewritten From gets (\"\": wordpress@<first sending domain>).")
@click.option("--subdomains/--exact-domains", default=None,
              help="Whether a sending domain also covers its subdomains (not those another site has).")
def site_senders(name, from_policy, default_from, subdomains) -> None:
    """Show or set what a site may send as: its From policy, default sender and subdomains."""
    click.echo(_senders_line(_site_op(sites.set_senders, name, from_policy, default_from, subdomains)))


@site_group.command("rotate-secret")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def rotate_secret(name, as_json) -> None:
    """Give a site a new key id and secret; the old ones stop working at once."""
    settings = _settings()
    creds = _site_op(lambda s, n: sites.rotate_secret(s, settings.secret_key, n), name)
    _print_credentials(name, creds, f"http://{settings.http_host}:{settings.http_port}", as_json)


@site_group.group("smtp-credentials")
def smtp_credentials_group() -> None:
    """A site's separate SMTP logins (instead of its key id and secret); stored hashed."""


@smtp_credentials_group.command("add")
@click.argument("name")
@click.option("--username", help="The user name (default: a generated smtp_... name).")
@click.option("--json", "as_json", is_flag=True)
def smtp_credentials_add(name, username, as_json) -> None:
    """Make an SMTP login for a site and print its password (shown once)."""
    cred, password = _site_op(sites.add_smtp_credential, name, username)
    if as_json:
        click.echo(json.dumps({"site": sites.normalise_domain(name), "username": cred.username,
                               "password": password}))
        return
    settings = _settings()
    click.echo(f"site:      {sites.normalise_domain(name)}\nusername:  {cred.username}\n"
               f"password:  {password}\n(the password is shown this once; only its hash is kept)\n\n"
               f"SMTP: STARTTLS on port {settings.smtp_port} or implicit TLS on port "
               f"{settings.smtp_tls_port}, AUTH PLAIN or LOGIN")


@smtp_credentials_group.command("list")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def smtp_credentials_list(name, as_json) -> None:
    """List a site's SMTP user names (never passwords)."""
    rows = _site_op(lambda s, n: [{"username": c.username, "created_at": c.created_at.isoformat()}
                                  for c in sites.smtp_credentials(s, n)], name)
    for r in rows:
        click.echo(json.dumps(r) if as_json else f"{r['username']}\tcreated {r['created_at']}")


@smtp_credentials_group.command("remove")
@click.argument("name")
@click.argument("username")
def smtp_credentials_remove(name, username) -> None:
    """Remove an SMTP login; listeners refuse it within seconds."""
    _site_op(sites.remove_smtp_credential, name, username)
    click.echo(f"removed SMTP user {username} of {sites.normalise_domain(name)}")


@site_group.command("quota")
@click.argument("name")
@click.option("--hourly", type=int, help="Most recipients per hour (0: no limit).")
@click.option("--daily", type=int, help="Most recipients per day (0: no limit).")
def site_quota(name, hourly, daily) -> None:
    """Set a site's hourly and daily quotas."""
    def _set(session, n):
        site = sites.get(session, n)
        if hourly is not None:
            site.hourly_quota = hourly or None
        if daily is not None:
            site.daily_quota = daily or None
        return site
    site = _site_op(_set, name)
    click.echo(f"{site.name}: hourly={site.hourly_quota or '-'} daily={site.daily_quota or '-'}")


@site_group.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask.")
def site_remove(name, yes) -> None:
    """Remove a site with all its messages."""
    if not yes:
        click.confirm(f"Remove {name} and all its messages?", abort=True)
    _site_op(sites.remove, name)
    click.echo(f"removed {name}")


@main.command()
@click.option("--json", "as_json", is_flag=True)
def outbox(as_json: bool) -> None:
    """List what the local capture outbox holds (mail delivered with no provider set)."""
    from wpbridge.relay.outbox import listing

    settings = _settings()
    rows = listing(settings.outbox_dir)
    for r in rows:
        if as_json:
            click.echo(json.dumps(r))
        else:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["captured"]))
            click.echo(f"{when}  {r['from']} -> {', '.join(r['to'])}  {r['subject']}")
    if not as_json:
        click.echo(f"{len(rows)} message(s) in {settings.outbox_dir}", err=True)


@main.command("send-test")
@click.option("--site", "site_name", required=True, help="The site to send as.")
@click.option("--to", "to", required=True, help="The recipient.")
@click.option("--from", "sender", help="The sender (default: wordpress@<first sending domain>).")
@click.option("--url", help="The bridge's URL (default: this machine's HTTP API).")
def send_test(site_name, to, sender, url) -> None:
    """Send a test message through the running bridge's HTTP API, signed as the site."""
    import requests

    from wpbridge.ingest.signing import sign_headers

    settings = _settings()
    with _sessions(settings)() as session:
        try:
            site = sites.get(session, site_name)
        except sites.SiteError as exc:
            raise click.ClickException(str(exc)) from None
        secret = sites.decrypt_secret(settings.secret_key, site.secret_enc, site.key_id)
        key_id, domain = site.key_id, site.domains[0].domain
    body = json.dumps({"from": sender or f"wordpress@{domain}", "to": [to],
                       "subject": "wpbridge test message",
                       "text": "This test message went through wpbridge.",
                       "context": {"source": "send-test"}}).encode()
    url = (url or f"http://{settings.http_host}:{settings.http_port}").rstrip("/")
    headers = sign_headers(key_id, secret, "POST", "/api/v1/messages", body)
    headers["Content-Type"] = "application/json"
    try:
        resp = requests.post(url + "/api/v1/messages", data=body, headers=headers, timeout=10)
    except requests.RequestException as exc:
        raise click.ClickException(
            f"cannot reach the bridge at {url} ({type(exc).__name__}); start it with 'wpbridge "
            "serve', or give its address with --url") from None
    if resp.status_code != 202:
        raise click.ClickException(f"the bridge answered {resp.status_code}: {resp.text}")
    click.echo(f"queued as {resp.json()['id']}")


@main.group("suppressions")
def suppressions_group() -> None:
    """A site's suppression list (addresses the bridge will not send to)."""


def _site_id(settings, name: str) -> int:
    with _sessions(settings)() as session:
        try:
            return sites.get(session, name).id
        except sites.SiteError as exc:
            raise click.ClickException(str(exc)) from None


@suppressions_group.command("list")
@click.option("--site", "site_name", required=True)
@click.option("--reason", help="Only this reason (unsubscribe, hard_bounce, complaint, ...).")
@click.option("--json", "as_json", is_flag=True)
def suppressions_list(site_name, reason, as_json) -> None:
    """List a site's suppressions, newest first."""
    from wpbridge import suppressions

    settings = _settings()
    site_id = _site_id(settings, site_name)
    with db.make_engine(settings).connect() as conn:
        rows = suppressions.listing(conn, site_id, reason=reason, limit=10**9)
    if not rows and not as_json:
        click.echo(f"{site_name} has no suppressions"
                   + (f" with reason {reason}" if reason else ""), err=True)
    for r in rows:
        click.echo(json.dumps(r) if as_json else f"{r['address']}\t{r['scope']}\t{r['reason']}\t{r['created_at']}")


@suppressions_group.command("add")
@click.option("--site", "site_name", required=True)
@click.option("--scope", type=click.Choice(["all", "bulk"]), default="all", show_default=True)
@click.option("--reason", default="manual", show_default=True)
@click.argument("addresses", nargs=-1, required=True)
def suppressions_add(site_name, scope, reason, addresses) -> None:
    """Suppress addresses for a site."""
    _import_rows(site_name, [{"address": a, "scope": scope, "reason": reason} for a in addresses])


@suppressions_group.command("remove")
@click.option("--site", "site_name", required=True)
@click.option("--scope", type=click.Choice(["all", "bulk"]), help="Only this scope.")
@click.argument("addresses", nargs=-1, required=True)
def suppressions_remove(site_name, scope, addresses) -> None:
    """Take addresses off a site's list."""
    from wpbridge import suppressions

    settings = _settings()
    site_id = _site_id(settings, site_name)
    with db.make_engine(settings).begin() as conn:
        removed = sum(suppressions.remove(conn, site_id, a, scope) for a in addresses)
    click.echo(f"removed {removed} entr{'y' if removed == 1 else 'ies'}")


@suppressions_group.command("import")
@click.option("--site", "site_name", required=True)
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
def suppressions_import(site_name, csv_file) -> None:
    """Import a CSV with a header row: address[,scope][,reason] (scope all or bulk)."""
    import csv

    reader = csv.DictReader(csv_file)
    if not reader.fieldnames or "address" not in [f.strip().lower() for f in reader.fieldnames]:
        raise click.ClickException("the CSV needs a header row with an 'address' column "
                                   "(optional: scope, reason)")
    rows = [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    _import_rows(site_name, rows)


@suppressions_group.command("export")
@click.option("--site", "site_name", required=True)
@click.argument("csv_file", type=click.File("w"), default="-")
def suppressions_export(site_name, csv_file) -> None:
    """Write the list as CSV (address, scope, reason, source, created_at, expires_at)."""
    import csv

    from wpbridge import suppressions

    settings = _settings()
    site_id = _site_id(settings, site_name)
    with db.make_engine(settings).connect() as conn:
        rows = suppressions.listing(conn, site_id, limit=10**9)
    writer = csv.DictWriter(csv_file, ["address", "scope", "reason", "source", "created_at", "expires_at"])
    writer.writeheader()
    writer.writerows(rows)


def _import_rows(site_name: str, rows: list[dict]) -> None:
    """Validate every row first; store all or nothing."""
    from wpbridge import suppressions
    from wpbridge.ingest.message import InvalidInput, check_address
    from wpbridge.models import utcnow

    settings = _settings()
    site_id = _site_id(settings, site_name)
    clean = []
    for n, row in enumerate(rows, start=1):
        scope = row.get("scope") or "all"
        try:
            address = check_address(row.get("address") or "", "address")
        except InvalidInput as exc:
            raise click.ClickException(f"row {n}: {exc.message}; nothing was imported") from None
        if scope not in suppressions.SCOPES:
            raise click.ClickException(f"row {n}: scope {scope!r} is not all or bulk; nothing was imported")
        clean.append((address, scope, (row.get("reason") or "manual")[:64]))
    added = 0
    with db.make_engine(settings).begin() as conn:
        for address, scope, reason in clean:
            added += suppressions.add(conn, site_id, address, scope, reason, "cli", utcnow())
    click.echo(f"{added} added, {len(clean) - added} already listed")


@main.group("privacy")
def privacy_group() -> None:
    """Data protection: erase a recipient, drop old message bodies."""


@privacy_group.command("erase")
@click.argument("address")
@click.option("--site", "site_name", help="Only this site (default: every site).")
def privacy_erase(address, site_name) -> None:
    """Erase everything about ADDRESS but its suppression entries."""
    from wpbridge import privacy

    settings = _settings()
    site_id = _site_id(settings, site_name) if site_name else None
    counts = privacy.erase(db.make_engine(settings), address, site_id)
    click.echo(", ".join(f"{n} {what}" for what, n in counts.items()) + " erased")


@privacy_group.command("prune")
@click.option("--days", type=float, default=30, show_default=True, help="Keep bodies this long.")
def privacy_prune(days) -> None:
    """Drop the bodies of finished messages older than --days (the delivery log stays)."""
    from wpbridge import privacy
    from wpbridge.models import utcnow

    n = privacy.prune_bodies(db.make_engine(_settings()), days, utcnow())
    click.echo(f"{n} message bodies dropped")


# Commands that need no database, or set it up themselves; every other one finds its schema
# created or upgraded first (as 'serve' does), so none depends on another having run before.
_NO_DATABASE = {"classify", "bounces parse", "outbox", "db upgrade", "serve", "dns check"}


def _with_schema(callback):
    @functools.wraps(callback)
    def run(*args, **kwargs):
        db.ensure_schema(_settings())
        return callback(*args, **kwargs)
    return run


def _walk(group: click.Group, prefix: str = ""):
    for name, cmd in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(cmd, click.Group):
            yield from _walk(cmd, path + " ")
        else:
            yield path, cmd


for _path, _cmd in _walk(main):
    if _path not in _NO_DATABASE and _cmd.callback is not None:
        _cmd.callback = _with_schema(_cmd.callback)
