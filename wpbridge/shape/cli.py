"""``wpbridge providers`` (providers with their limits and health) and ``wpbridge bulk
resume --site NAME`` (lift the reputation guard's pause of a site's bulk mail)."""

from __future__ import annotations

import getpass
import json

import click
from sqlalchemy.exc import SQLAlchemyError

from wpbridge import db, settings as settings_mod
from wpbridge.models import utcnow
from wpbridge.settings import SettingsError
from wpbridge.shape import guard
from wpbridge.shape.health import provider_rows


def _settings() -> settings_mod.Settings:
    try:
        return settings_mod.ensure_secret_key(settings_mod.load())
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _no_database(exc: Exception) -> str:
    return (f"cannot read the shaping state ({type(exc).__name__}); is the database set up? "
            "Run: wpbridge db upgrade")


@click.command("providers")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per provider and line.")
def providers_command(as_json: bool) -> None:
    """List the configured providers with their limits, health and active holds."""
    settings = _settings()
    engine = db.make_engine(settings)
    try:
        with engine.connect() as conn:
            rows = provider_rows(conn, settings, utcnow())
    except SQLAlchemyError as exc:
        raise click.ClickException(_no_database(exc)) from None
    finally:
        engine.dispose()
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, default=str))
            continue
        state = row["state"]
        if state == "down":
            state += f" until {row['down_until']:%Y-%m-%d %H:%M:%S} UTC"
        elif row["failures"]:
            state += f" ({row['failures']} recent failures)"
        click.echo(f"{row['name']}{' (default)' if row['default'] else ''}: {row['endpoint']}  "
                   f"[{state}]")
        limits = [*row["rates"]]
        if row["connections"]:
            limits.append(f"{row['connections']} connections")
        if row["messages_per_connection"]:
            limits.append(f"{row['messages_per_connection']} messages per connection")
        click.echo(f"  provider limits: {', '.join(limits) or 'none'}")
        if row["last_error"] and (row["state"] != "up" or row["failures"]):
            click.echo(f"  last error: {row['last_error']}")
        for h in row["holds"]:
            what = h["destination"] or "the provider"
            how = "suspended" if h["action"] == "suspend" else f"throttled to {h['rate']}"
            click.echo(f"  {what} {how} until {h['until']:%H:%M:%S} UTC ({h['rule']}: {h['reply'][:80]})")


@click.group("bulk")
def bulk_command() -> None:
    """The bulk lane of a site: pauses by the reputation guard."""


@bulk_command.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per site and line.")
def bulk_status(as_json: bool) -> None:
    """Show the sites whose bulk mail the reputation guard paused, and why."""
    settings = _settings()
    engine = db.make_engine(settings)
    try:
        with engine.connect() as conn:
            rows = guard.pauses(conn)
    except SQLAlchemyError as exc:
        raise click.ClickException(_no_database(exc)) from None
    finally:
        engine.dispose()
    for row in rows:
        click.echo(json.dumps(row, default=str) if as_json else
                   f"{row['site']}: {row['state']} since {row['updated_at']:%Y-%m-%d %H:%M} UTC - {row['reason']}")
    if not rows and not as_json:
        click.echo("no site's bulk mail is or was paused")


@bulk_command.command("resume")
@click.option("--site", "site_name", required=True, help="The site's name.")
def bulk_resume(site_name: str) -> None:
    """Resume a site's paused bulk mail. Bounce and complaint rates are counted afresh from
    now, so the guard pauses again only on new trouble."""
    settings = _settings()
    engine = db.make_engine(settings)
    try:
        resumed = guard.resume(engine, site_name, f"cli:{getpass.getuser()}", utcnow())
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        raise click.ClickException(_no_database(exc)) from None
    finally:
        engine.dispose()
    click.echo(f"{site_name}: bulk mail resumed" if resumed else
               f"{site_name}: bulk mail was not paused; nothing to do")
