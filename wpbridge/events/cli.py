"""``wpbridge bounces parse [--json] FILE...``: what the bridge makes of stored bounces.

Reads each file as one RFC 5322 message (an .eml), prints what :func:`parse` finds: the
kind of report and, per recipient, the address, status code, group and reason.
"""

from __future__ import annotations

import json

import click

from wpbridge.events.bounces import BounceReport, parse


@click.group("bounces")
def bounces_command() -> None:
    """Bounces, complaints and auto-replies."""


@bounces_command.command("parse")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line.")
def parse_command(files: tuple[str, ...], as_json: bool) -> None:
    """Parse .eml files as bounces (RFC 3464 and MTA texts), complaints (RFC 5965 ARF) or
    auto-replies (RFC 3834), and print each recipient's group and reason."""
    failed = False
    for path in files:
        try:
            with open(path, "rb") as fh:
                report = parse(fh.read())
        except OSError as exc:
            click.echo(f"{path}: {exc.strerror or exc}", err=True)
            failed = True
            continue
        click.echo(json.dumps(as_dict(path, report)) if as_json else as_lines(path, report))
    if failed:
        raise SystemExit(1)


def as_dict(path: str, report: BounceReport) -> dict:
    out = {"file": path, "type": str(report.type),
           "recipients": [{"address": r.address, "status": r.status, "group": str(r.group),
                           "reason": str(r.reason)} for r in report.recipients]}
    if report.feedback_type:
        out["feedback_type"] = report.feedback_type
    return out


def as_lines(path: str, report: BounceReport) -> str:
    head = f"{path}: {report.type}"
    if report.feedback_type:
        head += f" ({report.feedback_type})"
    lines = [head]
    for r in report.recipients:
        code = " ".join(str(x) for x in (r.code, r.status) if x)
        lines.append(f"  {r.address or '(no address)'}  {r.group}/{r.reason}"
                     + (f"  {code}" if code else "")
                     + (f"  {r.diagnostic[:120]}" if r.diagnostic else ""))
    return "\n".join(lines)


def _engine_and_settings():
    from wpbridge import db, settings as settings_mod

    try:
        settings = settings_mod.ensure_secret_key(settings_mod.load())
    except settings_mod.SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if not settings.bounce_domains:
        raise click.ClickException("no bounce domain is set: set WPBRIDGE_BOUNCE_DOMAINS (and "
                                   "verp = true with return_path on the routes that use it)")
    return db.make_engine(settings), settings


@bounces_command.command("listen")
def listen_command() -> None:
    """Run the bounce listener (the bounce domain's MX) until Ctrl-C or SIGTERM."""
    import signal
    import threading

    from wpbridge.events.inbound import start_listener

    engine, settings = _engine_and_settings()
    host, _, port = settings.bounce_listen.rpartition(":")
    controller = start_listener(engine, settings, host or "127.0.0.1", int(port))
    click.echo(f"bounce listener on {settings.bounce_listen} for {', '.join(settings.bounce_domains)}",
               err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


@bounces_command.command("poll")
@click.option("--once", is_flag=True, help="Poll once and exit.")
def poll_command(once: bool) -> None:
    """Fetch bounces from WPBRIDGE_BOUNCE_MAILBOX (IMAP or POP3) every poll interval."""
    import time

    from wpbridge.events.inbound import BounceHandler
    from wpbridge.events.mailbox import MailboxError, poll

    engine, settings = _engine_and_settings()
    if not settings.bounce_mailbox:
        raise click.ClickException("set WPBRIDGE_BOUNCE_MAILBOX, e.g. imaps://bounces:secret@mail.example.com/INBOX")
    handler = BounceHandler(engine, settings)
    while True:
        try:
            n = poll(settings.bounce_mailbox, handler)
            if n:
                click.echo(f"{n} bounce(s) applied", err=True)
        except (MailboxError, OSError) as exc:
            click.echo(f"bounce mailbox: {exc}", err=True)
            if once:
                raise SystemExit(1)
        if once:
            return
        time.sleep(settings.bounce_poll_interval)
