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
