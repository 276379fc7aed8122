"""``wpbridge classify [--json] [--rules FILE] FILE.eml...``: classify stored messages.

With ``--json``, when the weighed evidence decided (no site rule, context or newsletter
plugin header did), the object also has ``scores`` (the summed weight per side:
``bulk``, ``transactional``, ``notification``, ``not bulk``) and ``cues`` (each cue with its
category and weight, heaviest first).

An .eml file carries no plugin context, so the file may hold it in one extra header,
removed before classifying::

    X-WPBridge-Context: {"source": "wp_mail", "wc_email_id": "customer_processing_order"}

Recipients are read from the To, Cc and Bcc headers.
"""

from __future__ import annotations

import json
import tomllib
from email import policy
from email.parser import BytesHeaderParser

import click

from wpbridge.classify import Classification, RuleError, classify, parse_rules

CONTEXT_HEADER = "X-WPBridge-Context"
_SEPARATOR = (b"\r\n\r\n", b"\n\n")


class EmlError(ValueError):
    """The file is not a message this command can read; the message says why."""


def read_eml(raw: bytes) -> tuple[dict[str, str], dict, bytes]:
    """Split an .eml into (headers, context, body) the way the bridge's ingest sees them.

    :raise EmlError: the X-WPBridge-Context header is not a JSON object.
    """
    parsed = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    headers = {k: str(v) for k, v in parsed.items() if k.lower() != CONTEXT_HEADER.lower()}
    context: dict = {}
    value = parsed.get(CONTEXT_HEADER)
    if value is not None:
        try:
            context = json.loads(str(value).replace("\r\n", "").replace("\n", ""))
        except json.JSONDecodeError as exc:
            raise EmlError(f"{CONTEXT_HEADER} is not valid JSON ({exc.msg} at column "
                           f"{exc.colno}); write it as one JSON object") from None
        if not isinstance(context, dict):
            raise EmlError(f"{CONTEXT_HEADER} must be a JSON object, like "
                           '{"wc_email_id": "customer_processing_order"}')
    cut = min((i + len(sep) for sep in _SEPARATOR if (i := raw.find(sep)) >= 0), default=len(raw))
    return headers, context, raw[cut:]


@click.command("classify")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--rules", "rules_file", type=click.Path(exists=True, dir_okay=False),
              help="A TOML file with [[classify.rules]] to apply first, as a site's config would.")
def classify_command(files: tuple[str, ...], as_json: bool, rules_file: str | None) -> None:
    """Classify .eml files as transactional, notification or bulk, and say which rule decided.

    Plugin context can be given in the file as an X-WPBridge-Context header holding a JSON
    object; it is removed before classifying.
    """
    rules = ()
    if rules_file:
        try:
            with open(rules_file, "rb") as fh:
                rules = parse_rules(tomllib.load(fh))
        except (tomllib.TOMLDecodeError, RuleError) as exc:
            raise click.ClickException(f"{rules_file}: {exc}") from None
    failed = False
    for path in files:
        try:
            with open(path, "rb") as fh:
                headers, context, body = read_eml(fh.read())
        except (OSError, EmlError) as exc:
            click.echo(f"{path}: {getattr(exc, 'strerror', None) or exc}", err=True)
            failed = True
            continue
        result = classify(headers, context, body=body, rules=rules)
        click.echo(_format(path, result, as_json))
    if failed:
        raise SystemExit(1)


def _format(path: str, result: Classification, as_json: bool) -> str:
    if as_json:
        out = {"file": path, "category": result.category, "reasons": list(result.reasons)}
        if result.cues:  # the weighed evidence decided: every cue with its weight
            out["scores"] = {k: v for k, v in result.scores().items() if v}
            out["cues"] = [{"category": c, "cue": cue, "weight": w} for c, cue, w in result.cues]
        return json.dumps(out, ensure_ascii=False)
    return f"{path}: {result.category} ({'; '.join(result.reasons)})"
