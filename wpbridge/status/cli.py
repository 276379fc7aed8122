"""``wpbridge admin`` (agency tokens, a site's alert contacts and frame origins),
``wpbridge alerts`` and ``wpbridge report``."""

from __future__ import annotations

import json

import click
from sqlalchemy import select

from wpbridge import sites
from wpbridge.models import Site, utcnow
from wpbridge.status import access, alerts, report as report_mod


def _engine():
    from wpbridge import db
    from wpbridge.cli import _settings

    settings = _settings()
    return settings, db.make_engine(settings)


@click.group("admin")
def admin_command() -> None:
    """Agency tokens for the all-sites view and /metrics; a site's status settings."""


@admin_command.command("create-token")
@click.option("--name", default="agency", show_default=True, help="A name to tell tokens apart.")
def create_token(name: str) -> None:
    """Make an agency token (shown once; only its hash is stored)."""
    settings, engine = _engine()
    with engine.begin() as conn:
        try:
            token = access.create_admin_token(conn, name, utcnow())
        except access.AccessError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{token}\n(shown this once) Sign in at {settings.public_base}/status/ or scrape "
               f"{settings.public_base}/metrics with 'Authorization: Bearer <token>'.")


@admin_command.command("list-tokens")
def list_tokens() -> None:
    """The agency tokens' names and last use (never the tokens)."""
    _, engine = _engine()
    with engine.connect() as conn:
        for name, created, used in access.list_admin_tokens(conn):
            click.echo(f"{name}\tcreated {created:%Y-%m-%d %H:%M}\tlast used "
                       f"{used.strftime('%Y-%m-%d %H:%M') if used else 'never'}")


@admin_command.command("revoke-token")
@click.argument("name")
def revoke_token(name: str) -> None:
    """Revoke an agency token at once."""
    _, engine = _engine()
    with engine.begin() as conn:
        if not access.revoke_admin_token(conn, name):
            raise click.ClickException(f"no admin token named {name!r}; 'wpbridge admin list-tokens' "
                                       "shows them")
    click.echo(f"revoked {name}")


@admin_command.command("revoke-sessions")
@click.option("--site", "site_name", help="Only this site's sessions (default: every site's).")
def revoke_sessions(site_name: str | None) -> None:
    """End the status-page sessions (the 8-hour cookies) of one site or of all at once.
    wp-admin opens the page again with a fresh link; agency cookies end with revoke-token."""
    _, engine = _engine()
    with engine.begin() as conn:
        try:
            count = access.revoke_sessions(conn, sites.normalise_domain(site_name) if site_name else None)
        except (sites.SiteError, access.AccessError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"status-page sessions ended for {site_name or f'{count} site(s)'}")


@admin_command.command("site")
@click.argument("name")
@click.option("--contact", help="Alert and report addresses, comma-separated ('' clears).")
@click.option("--webhook", help="A URL that gets each alert change as JSON ('' clears).")
@click.option("--slack", help="A Slack-compatible incoming webhook URL ('' clears).")
@click.option("--origin", "add", multiple=True, help="An origin that may frame the status page "
              "(repeatable), e.g. https://shop.example.com.")
@click.option("--remove-origin", "remove", multiple=True, help="Stop allowing an origin.")
def site_settings(name, contact, webhook, slack, add, remove) -> None:
    """Show or change a site's alert contacts and the origins that may frame its page."""
    settings, engine = _engine()
    from wpbridge import db

    with db.make_sessionmaker(engine)() as session, session.begin():
        try:
            site = sites.get(session, name)
            row = access.update_site_settings(session, site, contact, webhook, slack, add, remove)
        except (sites.SiteError, access.AccessError) as exc:
            raise click.ClickException(str(exc)) from None
        origins = row.frame_origins or [f"https://{site.name}", f"http://{site.name}"]
        click.echo(f"{site.name}\n  contact: {row.contact_email or '-'}\n  webhook: "
                   f"{row.webhook_url or '-'}\n  slack:   {row.slack_url or '-'}\n  frame origins: "
                   f"{', '.join(origins)}{'' if row.frame_origins else ' (default)'}")


@click.group("alerts")
def alerts_command() -> None:
    """Alerts: evaluate the thresholds now and send what changed."""


@alerts_command.command("check")
@click.option("--site", "site_name", help="Only this site (the bridge-wide checks run always).")
@click.option("--json", "as_json", is_flag=True)
def alerts_check(site_name: str | None, as_json: bool) -> None:
    """Evaluate every alert once and notify the changes; print the current levels."""
    settings, engine = _engine()
    ids = None
    if site_name:
        with engine.connect() as conn:
            sid = conn.execute(select(Site.id).where(Site.name == sites.normalise_domain(site_name))).scalar()
        if sid is None:
            raise click.ClickException(f"no site named {site_name}; 'wpbridge site list' shows the sites")
        ids = [sid]
    changes = alerts.check(engine, settings, site_ids=ids)
    now = utcnow()
    with engine.connect() as conn:
        q = select(Site.id, Site.name).order_by(Site.name)
        rows = conn.execute(q.where(Site.id.in_(ids)) if ids else q).all()
        healths = [(name, alerts.health(conn, settings, sid, now)) for sid, name in rows]
    if as_json:
        click.echo(json.dumps({
            "changes": [{"site": c.site_name, "metric": c.threshold.metric, "from": c.previous,
                         "to": c.level, "kind": c.notice.kind} for c in changes],
            "sites": {name: {"level": h.level, "reasons": h.reasons} for name, h in healths}}))
        return
    for c in changes:
        click.echo(f"changed: {c.site_name or 'bridge'} {c.threshold.metric} {c.previous} -> {c.level}")
    for name, h in healths:
        click.echo(f"{name}\t{h.level}\t{'; '.join(h.reasons)}")


@click.command("report")
@click.option("--site", "site_name", help="The site (without it: the agency roll-up of all sites).")
@click.option("--period", type=click.Choice(report_mod.PERIODS), default="week", show_default=True)
@click.option("--html", "as_html", is_flag=True, help="Print the HTML version.")
@click.option("--send", is_flag=True, help="Queue it to the site's contact instead of printing.")
def report_command(site_name: str | None, period: str, as_html: bool, send: bool) -> None:
    """A site's summary of the last whole day, week or month against the one before."""
    settings, engine = _engine()
    now = utcnow()
    if not site_name:
        if send:
            raise click.ClickException("--send needs --site; the roll-up is printed only")
        with engine.connect() as conn:
            click.echo(report_mod.rollup(conn, settings, period, now), nl=False)
        return
    from wpbridge import db
    from wpbridge.status.mail import MailError

    with db.make_sessionmaker(engine)() as session:
        try:
            site = sites.get(session, site_name)
        except sites.SiteError as exc:
            raise click.ClickException(str(exc)) from None
        site_id, name = site.id, site.name
    with engine.connect() as conn:
        rep = report_mod.build(conn, settings, site_id, name, period, now)
    if send:
        try:
            message_id, to = report_mod.send(engine, settings, site_id, rep)
        except MailError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"queued as {message_id} to {', '.join(to)}")
        return
    click.echo(rep.html() if as_html else rep.text(), nl=False)
