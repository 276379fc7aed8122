"""One-click unsubscribe (RFC 8058): the URL the bridge puts in bulk mail's
List-Unsubscribe header, and the endpoint behind it.

``POST /u/<token>`` with ``List-Unsubscribe=One-Click`` (what Gmail, Yahoo and Outlook send)
records the unsubscribe at once. ``GET /u/<token>`` shows a page with a button, because
link scanners follow GET links and must not unsubscribe anybody. The token is signed, so
nobody can unsubscribe another address by editing the URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from flask import Blueprint, current_app, render_template_string, request
from markupsafe import escape

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


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
button{font:inherit;padding:.5rem 1rem}</style></head><body>
<h1>{{ title }}</h1><p>{{ text }}</p>
{% if ask %}<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button></form>{% endif %}
</body></html>"""


def _page(title: str, text: str, ask: bool = False, status: int = 200):
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
        return _page("Unsubscribe", f"Stop newsletters and other bulk mail to {escape(address)}? "
                     "Order confirmations and account mail will still arrive.", ask=True)
    with bridge.engine.begin() as conn:
        suppressions.add(conn, site_id, address, "bulk", "unsubscribe", f"message {message_id}", utcnow())
    return _page("Unsubscribed", f"{escape(address)} will get no more newsletters from this sender.")
