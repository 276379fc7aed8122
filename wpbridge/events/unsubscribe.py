"""One-click unsubscribe (RFC 8058): the targets the bridge puts in bulk mail's
List-Unsubscribe header, and what acts on them.

``POST /u/<token>`` with ``List-Unsubscribe=One-Click`` (what Gmail, Yahoo and Outlook send)
records the unsubscribe at once. ``GET /u/<token>`` shows a page with a button, because
link scanners follow GET links and must not unsubscribe anybody. The token is signed, so
nobody can unsubscribe another address by editing the URL.

The mailto: target (RFC 2369), ``unsubscribe+<recipient id>-<signature>@<bounce domain>``,
is for mail programs that offer only that; the bounce listener records mail to it the same
way (:func:`record`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

from flask import Blueprint, current_app, render_template_string, request

from wpbridge import suppressions
from wpbridge.models import utcnow

bp = Blueprint("unsubscribe", __name__)


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"wpbridge unsubscribe v1", hashlib.sha256).digest()


def make_token(secret_key: str, site_id: int, address: str, message_id: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps([site_id, address.lower(), message_id],
                                                  separators=(",", ":")).encode()).rstrip(b"=")
    mac = base64.urlsafe_b64encode(hmac.new(_key(secret_key), payload, hashlib.sha256).digest()[:16]).rstrip(b"=")
    return (payload + b"." + mac).decode()


def read_token(secret_key: str, token: str) -> tuple[int, str, str] | None:
    """(site id, address, message id), or None when the token is not one of ours."""
    payload, _, mac = token.encode().partition(b".")
    expected = base64.urlsafe_b64encode(hmac.new(_key(secret_key), payload, hashlib.sha256).digest()[:16]).rstrip(b"=")
    if not mac or not hmac.compare_digest(mac, expected):
        return None
    try:
        site_id, address, message_id = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
        return int(site_id), str(address), str(message_id)
    except (ValueError, TypeError):
        return None


def record(conn, site_id: int, address: str, message_id: str, now) -> bool:
    """Stop bulk mail from this site to ``address`` (receipts still go); False if it already was."""
    return suppressions.add(conn, site_id, address, "bulk", "unsubscribe", f"message {message_id}", now)


_MAILTO = re.compile(r"^unsubscribe\+([0-9]{1,19})-([a-z2-7]{20})$")


def _mailto_mac(secret_key: str, rid: int) -> str:
    # Lower-case base32: the local part must survive case folding and stay within 64 octets.
    digest = hmac.new(_key(secret_key), f"mailto:{rid}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:20].lower()


def mailto_address(settings, rid: int, return_path: str | None) -> str | None:
    """The mailto: unsubscribe address for recipient row ``rid``: at the route's return-path
    domain when the bounce listener serves it, else at the first bounce domain.

    None (the header then carries the https URL only) when no bounce domain is configured:
    mail to the address would reach nobody who acts on it. (The bounce listener acts on it,
    or the mailbox poller when the bounce domain's mail lands in a mailbox.)
    """
    if not settings.bounce_domains:
        return None
    domain = (return_path or "").rpartition("@")[2].lower()
    if domain not in settings.bounce_domains:
        domain = settings.bounce_domains[0]
    return f"unsubscribe+{rid}-{_mailto_mac(settings.secret_key, rid)}@{domain}"


def mailto_recipient(secret_key: str, addr: str, domains: frozenset[str]) -> int | None:
    """The recipient row id of a mailto: unsubscribe address at one of ``domains``, or None
    if the address is not one of ours (unknown domain, malformed, or a forged signature)."""
    local, _, domain = addr.lower().rpartition("@")
    m = _MAILTO.match(local)
    if domain not in domains or not m:
        return None
    rid = int(m.group(1))
    return rid if hmac.compare_digest(m.group(2), _mailto_mac(secret_key, rid)) else None


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
button{font:inherit;padding:.5rem 1rem}</style></head><body>
<h1>{{ title }}</h1><p>{{ text }}</p>
{% if ask %}<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button></form>{% endif %}
</body></html>"""


def _page(title: str, text: str, ask: bool = False, status: int = 200):
    # Plain text in, escaped once: by the template's autoescaping.
    return render_template_string(_PAGE, title=title, text=text, ask=ask), status, {
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        "Cache-Control": "no-store"}


@bp.route("/u/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    """:raise 404: the token is not valid (forged or mangled)."""
    bridge = current_app.extensions["wpbridge"]
    found = read_token(bridge.settings.secret_key, token)
    if found is None:
        return _page("Link not valid", "This unsubscribe link is not valid. Use the link in the "
                     "newest message you received.", status=404)
    site_id, address, message_id = found
    if request.method == "GET":
        return _page("Unsubscribe", f"Stop newsletters and other bulk mail to {address}? "
                     "Order confirmations and account mail will still arrive.", ask=True)
    with bridge.engine.begin() as conn:
        record(conn, site_id, address, message_id, utcnow())
    return _page("Unsubscribed", f"{address} will get no more newsletters from this sender.")
