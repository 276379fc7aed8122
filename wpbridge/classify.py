"""classify: message + context -> category, with the reasons that decided it. Pure, no I/O.

Categories: ``transactional`` (receipts, order and account mail), ``notification`` (notices to
the site's staff and system mail), ``bulk`` (newsletters and campaigns).

Order of trust, first decision wins:

1. the site's own rules (:class:`Rule`, from config);
2. explicit context from the WordPress plugin: the WooCommerce email id, the WordPress core
   mail kind, the plugin that called wp_mail();
3. newsletter plugins' own header marks (Mailster, The Newsletter Plugin, X-Campaign*,
   X-Newsletter-*), which say plainly whether a message is a campaign;
4. the weighed evidence (:data:`CUES`): every other mark counts with its weight, and the
   heavier side wins. Bulk cues: many recipients, List-Id, Precedence: bulk/list/junk,
   List-Unsubscribe-Post, List-Unsubscribe (a mailto-only one weighs less), Feedback-ID,
   newsletter tracking and unsubscribe links, ``utm_`` campaign parameters, a 1x1 tracking
   image, marketing words. Transactional cues: an order number with line items or totals,
   account and password links, subscription confirmation links, WooCommerce's email
   template, a single recipient outside the site. Notification cues: links into wp-admin,
   mail to the site's own people, a visitor's message relayed to the site, and, weakest, the
   subjects of WordPress admin notices.

   Weak bulk cues are what careful transactional senders carry too: WooCommerce receipts
   with ``utm_`` links in their footer, receipts with a mailto List-Unsubscribe a relay
   added, weekly summaries to the shop's staff with tracked links. So a strong transactional
   cue (5 and more) outweighs the weak bulk cues such senders carry (``utm_`` 1, a mailto
   List-Unsubscribe 1, marketing words 1, an http List-Unsubscribe 2), and only the bulk
   marks that a mailing leaves on purpose (a list, a precedence, many recipients, a
   newsletter plugin's links) outweigh it. Bulk wins when its weight is above the sum of
   all the others (an order with totals counts against bulk without saying whom it is for:
   customer or staff); otherwise the heavier of the transactional and the notification
   side decides, transactional on a tie. The body's words are read only when there is a
   bulk mark to weigh them against.

   Auto-Submitted (RFC 3834) says a message is automatic, not a mailing: with it the bulk
   cues of the body and the recipient count do not count.

Subjects are translated and edited by admins, so they never decide against any other signal.
Every table below is data; adding a plugin, an email id or a cue is one line.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

TRANSACTIONAL, NOTIFICATION, BULK = "transactional", "notification", "bulk"
CATEGORIES = (TRANSACTIONAL, NOTIFICATION, BULK)
# Evidence that a message is no mailing, without saying whom it is for: an order with its
# totals goes to the customer (transactional) and to the shop's staff (notification) alike.
NOT_BULK = "not bulk"

# WooCommerce email ids (WC_Email::$id, passed by the plugin as context "wc_email_id"), core
# WooCommerce only. WooCommerce itself calls abandoned-cart and review requests transactional.
WOOCOMMERCE_EMAILS: dict[str, str] = {
    **dict.fromkeys([
        "customer_processing_order", "customer_completed_order", "customer_on_hold_order",
        "customer_refunded_order", "customer_partially_refunded_order", "customer_invoice",
        "customer_note", "customer_new_account", "customer_reset_password",
        "customer_failed_order", "customer_cancelled_order", "customer_pos_completed_order",
        "customer_pos_refunded_order", "customer_fulfillment_created",
        "customer_fulfillment_updated", "customer_fulfillment_deleted",
        "customer_stock_notification", "customer_stock_notification_verify",
        "customer_stock_notification_verified", "customer_review_request",
        "customer_abandoned_cart_recovery",
    ], TRANSACTIONAL),
    **dict.fromkeys([
        "new_order", "cancelled_order", "failed_order", "low_stock", "no_stock", "backorder",
        "admin_payment_gateway_enabled",
    ], NOTIFICATION),
}
# Extensions (Subscriptions, Bookings, ...) follow WooCommerce's naming for their own ids.
WOOCOMMERCE_ID_PREFIXES = (("customer_", TRANSACTIONAL), ("admin_", NOTIFICATION))

# WordPress core gives its mails no id; the plugin can name one by the core filter that built
# it (context "wp_mail_kind"), e.g. "retrieve_password_notification_email".
WORDPRESS_CORE_MAILS: dict[str, str] = {
    **dict.fromkeys([
        "retrieve_password_notification_email",     # password reset
        "wp_new_user_notification_email",           # login details for a new user
        "password_change_email", "email_change_email",
        "new_user_email_content",                   # confirm a new email address
        "user_request_action_email_content",        # confirm a privacy request
        "wp_privacy_personal_data_email_content",   # personal data export link
        "user_erasure_fulfillment_email_content",
        "wpmu_signup_user_notification_email", "wpmu_signup_blog_notification_email",
        "update_welcome_email", "update_welcome_user_email",
    ], TRANSACTIONAL),
    **dict.fromkeys([
        "wp_new_user_notification_email_admin", "wp_password_change_notification_email",
        "comment_moderation_text", "comment_notification_text",
        "new_admin_email_content", "site_admin_email_change_email",
        "user_request_confirmed_email_content",     # privacy request confirmed, to the admin
        "auto_core_update_email", "auto_plugin_theme_update_email",
        "automatic_updates_debug_email", "recovery_mode_email", "wp_installed_email",
        "newblog_notify_siteadmin", "newuser_notify_siteadmin",
    ], NOTIFICATION),
}

# What the plugin that called wp_mail() (context "plugin": its directory name) sends.
# ACCOUNT plugins write to their members and to the site's staff: who the mail is addressed
# to decides. NEWSLETTER plugins send campaigns and subscription confirmations alike: their
# headers decide.
ACCOUNT, NEWSLETTER = "account mail", "newsletter plugin"
PLUGINS: dict[str, str] = {
    **dict.fromkeys([
        "contact-form-7", "wpforms", "wpforms-lite", "gravityforms", "ninja-forms",
        "formidable", "fluentform", "forminator", "everest-forms",
    ], NOTIFICATION),   # form submissions and their auto-replies
    **dict.fromkeys([
        "wordfence", "better-wp-security", "ithemes-security-pro", "solid-security",
        "all-in-one-wp-security-and-firewall", "sucuri-scanner", "wp-cerber",
        "limit-login-attempts-reloaded", "updraftplus", "backwpup",
    ], NOTIFICATION),   # security alerts and backup reports
    **dict.fromkeys([
        "memberpress", "paid-memberships-pro", "sfwd-lms", "lifterlms", "tutor",
        "restrict-content-pro", "ultimate-member", "woocommerce-subscriptions",
        "woocommerce-memberships", "easy-digital-downloads",
    ], ACCOUNT),
    **dict.fromkeys(["mailpoet", "newsletter", "mailster", "mailster-pro"], NEWSLETTER),
}

# Header marks, most specific first: (header, accepted values or None for any, category,
# what it means). Newsletter plugins' own marks come before the generic list headers because
# they also say when a message is *not* a campaign (Mailster puts List-Unsubscribe on its
# double opt-in confirmations).
HEADER_MARKS: tuple[tuple[str, tuple[str, ...] | None, str, str], ...] = (
    ("X-Mailster-Campaign", None, BULK, "Mailster campaign"),
    ("X-Mailster", None, TRANSACTIONAL, "Mailster mail to a subscriber, no campaign"),
    ("X-Mailster-ID", None, NOTIFICATION, "Mailster notice, no campaign"),
    ("X-Newsletter-Email-Id", None, BULK, "The Newsletter Plugin newsletter"),
)
HEADER_PREFIXES: tuple[tuple[str, str], ...] = (("x-newsletter-", BULK), ("x-campaign", BULK))

# Generic list headers, weighed (header, accepted values or None for any, weight). A mailto-only
# List-Unsubscribe is what relays and careless plugins add to everything: it weighs least.
HEADER_CUES: tuple[tuple[str, tuple[str, ...] | None, float], ...] = (
    ("Precedence", ("bulk", "list", "junk"), 4),
    ("List-Id", None, 4),
    ("List-Unsubscribe-Post", None, 3),
    ("List-Unsubscribe", None, 2),
    ("Feedback-ID", None, 1),
)
MAILTO_ONLY_UNSUBSCRIBE = 1

# At or above this many recipients in one message, it is a mailing.
MANY_RECIPIENTS = 20

# Body marks: (needles in the body's links, lower-cased, category, what they are, weight).
# Links are not translated, so these hold in every language. A link into wp-admin is not
# here: it says who the mail is for (see _to_staff).
BODY_MARKS: tuple[tuple[tuple[bytes, ...], str, str, float], ...] = (
    ((b"endpoint=subscription&action=confirm",), TRANSACTIONAL,
     "MailPoet subscription confirmation link", 8),
    ((b"?na=c&", b"&na=c&"), TRANSACTIONAL, "The Newsletter Plugin confirmation link", 8),
    ((b"fluentcrm=1&route=confirmation",), TRANSACTIONAL, "FluentCRM double opt-in link", 8),
    ((b"mailpoet_router&endpoint=track", b"endpoint=subscription&action=unsubscribe",
      b"endpoint=view_in_browser"), BULK, "MailPoet tracking or unsubscribe link", 6),
    ((b"?nltr=", b"&nltr=", b"?noti=", b"?na=u&", b"?na=uc&", b"?na=ocu&", b"?na=v&"), BULK,
     "The Newsletter Plugin tracking or unsubscribe link", 6),
    ((b"fluentcrm=1&route=unsubscribe", b"fluentcrm=1&route=bnu", b"?fluentcrm=1&route=smart_url"),
     BULK, "FluentCRM tracking or unsubscribe link", 6),
    ((b"utm_medium=email", b"utm_medium=newsletter", b"utm_campaign="), BULK,
     "campaign tracking parameters (utm_)", 1),
    ((b"/unsubscribe", b"unsubscribe=", b"=unsubscribe", b"/unsub/", b"/optout", b"/opt-out",
      b"/abmelden", b"/desinscription", b"/desabonnement", b"/afmelden", b"/uitschrijven"), BULK,
     "unsubscribe link", 2),
    ((b"wp-login.php?action=rp&", b"wp-login.php?action=resetpass", b"/lost-password/?key=",
      b"/lost-password/?show-reset-form"), TRANSACTIONAL, "password (re)set link", 6),
    ((b"action=confirmaction&",), TRANSACTIONAL, "privacy request confirmation link", 6),
    ((b"newuseremail=",), TRANSACTIONAL, "email change confirmation link", 6),
    ((b"/wp-personal-data-exports/",), TRANSACTIONAL, "personal data export link", 6),
    ((b"action=enter_recovery_mode",), NOTIFICATION, "recovery mode link", 6),
)
STAFF_WEIGHT = 3        # a notice to the site's own people
SINGLE_CUSTOMER = 0.5   # one recipient outside the site: most mail, but so are personalised mailings
ADMIN_SUBJECT_WEIGHT = 1

# An order with its lines or totals: an order number near the words of an order, and money
# (a total word or two amounts). Words in the languages WooCommerce, Easy Digital Downloads
# and MemberPress ship; numbers and currency signs are the same everywhere.
_ORDER_NUMBER = re.compile(
    r"(?<![a-z])(?:order|bestellung|commande|pedido|bestelling|ordine|encomenda|注文|payment|purchase|"
    r"zahlung|paiement|pago|betaling|pagamento|receipt|invoice|rechnung|facture|factura|"
    r"factuur|fattura|fatura|transaction|transaktion)"
    r"[^<>\n\d]{0,24}?(?:#|n[°ºo]\.?|no\.|nr\.?|id|number|nummer|número|numero|番号)?\s*[:#]?\s*"
    r"#?[a-z]{0,4}-?\d{3,}")
_TOTAL_WORD = re.compile(
    r"\b(?:sub)?total|gesamt|zwischensumme|summe|totale|totaal|subtotaal|sous-total|合計|小計|"
    r"importe|amount|betrag|montant|bedrag|importo|valor|price|preis|prix|precio|prijs|prezzo|"
    r"preço")
_AMOUNT = re.compile(r"(?:[$€£¥]|r\$|&#36;|&euro;|&pound;|&yen;)\s?\d|\d[\d.,]*\s?(?:€|&euro;|"
                     r"円|eur\b|usd\b|gbp\b|chf\b)")
ORDER_WEIGHT = 5
# WooCommerce's email template (email-header.php): its mail, transactional or to the staff.
WOOCOMMERCE_TEMPLATE = (b'id="template_container"', b'id="body_content_inner"')
WOOCOMMERCE_TEMPLATE_WEIGHT = 2
# (The body's text is lower-cased before these are matched.)
# Account mail in its own words: the recipient's account, password, enrolment. Counted once.
_ACCOUNT = re.compile(
    r"your account|your password|log ?in to your|set your password|you have been enrolled|"
    r"dein(?:em)? (?:kunden)?konto|dein passwort|eingeschrieben|votre compte|votre mot de passe|"
    r"tu cuenta|tu contraseña|te has inscrito|je account|je wachtwoord|il tuo account|"
    r"la tua password|sua conta|sua senha|アカウント|パスワード")
ACCOUNT_WEIGHT = 2
# A double opt-in asks the one person who signed up to confirm: no mailing does. Counted once.
_CONFIRM_SUBSCRIPTION = re.compile(
    r"confirm (?:your )?(?:subscription|sign-?up|e-?mail address)|please confirm|"
    r"best[äa]tige (?:deine|ihre|die) (?:anmeldung|e-?mail|registrierung)|anmeldung best[äa]tigen|"
    r"confirme[rz] votre (?:inscription|abonnement|adresse)|confirma tu (?:suscripci[óo]n|correo)|"
    r"bevestig je (?:inschrijving|aanmelding|e-?mailadres)|conferma (?:la tua )?iscrizione|"
    r"confirme (?:sua|a sua) inscri[çc][ãa]o|購読を確認|登録を確認")
CONFIRM_WEIGHT = 3
# Marketing words, weak and counted once.
_MARKETING = re.compile(
    r"\d\s?% (?:off|rabatt|de (?:r[ée]duction|descuento|desconto)|korting|sconto)|"
    r"coupon|promo(?:code|tion)?\b|black friday|cyber monday|flash sale|"
    r"\bsale\b|soldes|rebajas|saldi|uitverkoop|liquidação|gutschein|sonderangebot|"
    r"セール|クーポン")
MARKETING_WEIGHT = 1
# A 1x1 image is an open-tracking pixel; checked after the literal marks.
_PIXEL = re.compile(rb"<img\b[^>]{0,400}?\b(?:width|height)\s*=\s*[\"']?1(?:px)?[\"'\s/>]"
                    rb"[^>]{0,400}?\b(?:width|height)\s*=\s*[\"']?1(?:px)?[\"'\s/>]")
_PIXEL_HINTS = (b'width="1"', b"width='1'", b"width=1")

# Weak tie-breaker: subjects of WordPress admin notices that carry no other mark, in the
# languages WordPress ships (from its own translations). Only ever turns a default
# "transactional" into "notification", never touches bulk.
ADMIN_NOTICE_SUBJECTS: tuple[str, ...] = (
    "New User Registration", "Registrierung eines neuen Benutzers",
    "Inscription d'un nouvel utilisateur", "Registro de nuevo usuario",
    "Registratie nieuwe gebruiker", "Registrazione di un nuovo utente",
    "Registro de novo usuário", "新規ユーザー登録",
    "Your Site is Experiencing a Technical Issue", "Some plugins were automatically updated",
    "Some themes were automatically updated", "Your site has updated to WordPress",
    "Deine Website wurde auf WordPress", "Tu sitio ha sido actualizado a WordPress",
    "へのサイト更新が完了しました", "Admin Email Changed",
)
_ADMIN_SUBJECT = re.compile("|".join(re.escape(s) for s in ADMIN_NOTICE_SUBJECTS), re.IGNORECASE)

_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_LINK = re.compile(rb"https?://[^\s\"'<>)\]]+")
_ENCODED_WORD = re.compile(r"=\?([^?]+)\?([bBqQ])\?([^?]*)\?=")
_BETWEEN_WORDS = re.compile(r"\?=\s+=\?")  # RFC 2047: space between encoded words is dropped


@dataclass(frozen=True)
class Classification:
    category: str
    reasons: tuple[str, ...]
    # The weighed evidence, when it decided: (category, cue, weight), heaviest first.
    cues: tuple[tuple[str, str, float], ...] = ()

    def scores(self) -> dict[str, float]:
        """The summed weight of each category's cues."""
        out = {c: 0.0 for c in (*CATEGORIES, NOT_BULK)}
        for category, _, weight in self.cues:
            out[category] += weight
        return out


class RuleError(ValueError):
    """A site rule in the config is not usable; the message names the rule and the fix."""


@dataclass(frozen=True)
class Rule:
    """A site's own rule, checked before everything else.

    Exactly one selector: ``sender`` (an address, or ``@domain`` for a whole domain, matched
    against the From header), ``header`` (a header name) or ``context`` (a context key).
    ``equals`` / ``contains`` compare the header or context value without regard to case;
    with neither, the header or key only has to be present.
    """

    category: str
    sender: str | None = None
    header: str | None = None
    context: str | None = None
    equals: str | None = None
    contains: str | None = None
    name: str = ""

    def matches(self, facts: "_Facts") -> bool:
        if self.sender is not None:
            address, want = facts.from_address, self.sender.lower()
            return address.endswith(want) if want.startswith("@") else address == want
        if self.header is not None:
            value = facts.headers.get(self.header.lower())
        else:
            value = facts.context.get(self.context)
        if value is None:
            return False
        value = str(value).strip().lower()
        if self.equals is not None:
            return value == self.equals.strip().lower()
        if self.contains is not None:
            return self.contains.lower() in value
        return True

    def describe(self) -> str:
        if self.sender is not None:
            what = f"sender {self.sender}"
        else:
            what = f"header {self.header}" if self.header is not None else f"context {self.context}"
            if self.equals is not None:
                what += f" = {self.equals!r}"
            elif self.contains is not None:
                what += f" contains {self.contains!r}"
        return f"site rule{' ' + self.name if self.name else ''}: {what}"


_RULE_KEYS = {"category", "sender", "header", "context", "equals", "contains", "name"}


def parse_rules(config: Mapping | Sequence | None, where: str = "classify.rules") -> tuple[Rule, ...]:
    """Build the rules from config data, as read from TOML::

        [[classify.rules]]
        header = "X-Form"
        equals = "contact"
        category = "notification"

    ``config`` may be the whole config mapping, its ``classify`` table, or the list itself;
    ``where`` names it in errors (e.g. ``sites.shop.classify.rules`` for one site's rules).

    :raise RuleError: a rule has an unknown key, no or several selectors, or a category
        other than transactional, notification or bulk.
    """
    if config is None:
        return ()
    items: object = config
    if isinstance(items, Mapping):
        items = items.get("classify", items)
    if isinstance(items, Mapping):
        items = items.get("rules", [])
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise RuleError(f"{where} must be a list of tables ([[{where}]] in TOML)")
    return tuple(_parse_rule(item, f"{where}[{i}]") for i, item in enumerate(items))


def _parse_rule(item: object, where: str) -> Rule:
    if not isinstance(item, Mapping):
        raise RuleError(f"{where} must be a table with a selector and a category")
    unknown = sorted(set(item) - _RULE_KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown key {', '.join(unknown)} (use one of "
                        f"{', '.join(sorted(_RULE_KEYS))})")
    selectors = [k for k in ("sender", "header", "context") if item.get(k) is not None]
    if len(selectors) != 1:
        raise RuleError(f"{where}: give exactly one of sender, header or context "
                        f"(found {', '.join(selectors) or 'none'})")
    category = item.get("category")
    if category not in CATEGORIES:
        raise RuleError(f"{where}: category {category!r} is not one of {', '.join(CATEGORIES)}")
    if item.get("equals") is not None and item.get("contains") is not None:
        raise RuleError(f"{where}: give equals or contains, not both")
    if selectors == ["sender"] and (item.get("equals") is not None or item.get("contains") is not None):
        raise RuleError(f"{where}: a sender rule takes the address itself "
                        '(sender = "news@example.com" or sender = "@news.example.com")')
    for key in ("sender", "header", "context", "equals", "contains", "name"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise RuleError(f"{where}: {key} must be a string")
    return Rule(category=category, name=item.get("name") or "", sender=item.get("sender"),
                header=item.get("header"), context=item.get("context"),
                equals=item.get("equals"), contains=item.get("contains"))


class _Facts:
    """What the rules look at, each worked out once and only when asked for."""

    def __init__(self, headers: Mapping[str, str], context: Mapping[str, object],
                 recipients: Sequence[str], body: bytes | str | None):
        self.names = headers.keys()
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.context = context
        self._recipients = recipients
        self._body = body
        self._cache: dict[str, object] = {}

    def _once(self, key: str, make: Callable[[], object]):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def from_address(self) -> str:
        return self._once("from", lambda: _first_address(self.headers.get("from", "")))

    @property
    def recipients(self) -> list[str]:
        def make():
            if self._recipients:
                return [a.lower() for a in self._recipients]
            return [a.lower() for name in ("to", "cc", "bcc")
                    for a in _ADDRESS.findall(str(self.headers.get(name, "")))]
        return self._once("recipients", make)

    @property
    def links(self) -> bytes:
        """The http(s) links in the body, lower-cased, one a line. Quoted-printable soft
        breaks and =3D and HTML's &amp; are undone first; base64 parts stay opaque."""
        return self._once("links", lambda: b"\n".join(_LINK.findall(self.body)))

    @property
    def text(self) -> str:
        """The body as text, base64 parts decoded: for the words of an order."""
        def make():
            raw = self._body or b""
            if isinstance(raw, str):
                return raw.lower()
            cte = str(self.headers.get("content-transfer-encoding", "")).lower()
            if b"uoted-printable" in raw or "quoted-printable" in cte:
                raw = quopri.decodestring(raw)
            if b"ase64" not in raw and "base64" not in cte:
                return raw.decode("utf-8", "replace").lower()
            if "base64" in str(self.headers.get("content-transfer-encoding", "")).lower():
                raw = _unbase64(raw)
            else:
                raw = _B64_PART.sub(lambda m: m.group(1) + _unbase64(m.group(2)), raw)
            return raw.decode("utf-8", "replace").lower()
        return self._once("text", make)

    @property
    def body(self) -> bytes:
        """The body, lower-cased, quoted-printable and &amp; undone."""
        def make():
            body = self._body or b""
            if isinstance(body, str):
                body = body.encode("utf-8", "replace")
            body = body.lower()
            if b"=3d" in body:
                body = body.replace(b"=\r\n", b"").replace(b"=\n", b"").replace(b"=3d", b"=")
            return body.replace(b"&amp;", b"&")
        return self._once("body", make)


_B64_PART = re.compile(rb"([Cc]ontent-[Tt]ransfer-[Ee]ncoding:[ \t]*base64[ \t]*\r?\n(?:[^\r\n]+\r?\n)*"
                       rb"\r?\n)([A-Za-z0-9+/=\r\n]+)")


def _unbase64(data: bytes) -> bytes:
    try:
        return base64.b64decode(data)
    except (ValueError, binascii.Error):
        return data


def _first_address(value: object) -> str:
    match = _ADDRESS.search(str(value))
    return match.group(0).lower() if match else ""


def _domain(address: str) -> str:
    return address.rpartition("@")[2]


Decision = tuple[str, tuple[str, ...]]


def classify(headers: Mapping[str, str], context: Mapping[str, object], *,
             recipients: Sequence[str] = (), body: bytes | str | None = None,
             rules: Iterable[Rule] = ()) -> Classification:
    """Classify one message.

    :param headers: top-level header name -> value.
    :param context: the context the WordPress plugin sent (``wc_email_id``, ``plugin``, ...).
    :param recipients: the envelope recipients; the To, Cc and Bcc headers when not given.
    :param body: the message after the header block (raw bytes as received, or text); the
        evidence reads its links and words. Without it, only context and headers count.
    :param rules: the site's rules (:func:`parse_rules`), checked first.
    """
    facts = _Facts(headers, context or {}, recipients, body)
    for rule in rules:
        if rule.matches(facts):
            return _with_overruled(rule.category, (rule.describe(),), facts)
    decided = _by_context(facts)
    if decided:
        return _with_overruled(*decided, facts)
    decided = _by_plugin_headers(facts)
    if decided:
        return Classification(*decided)
    return _by_evidence(facts)


def _with_overruled(category: str, reasons: tuple[str, ...], facts: _Facts) -> Classification:
    # A bulk mark on mail that context or a site rule called otherwise is worth showing:
    # it is how a careless plugin's List-Unsubscribe on a receipt is explained.
    if category != BULK:
        header = _by_plugin_headers(facts)
        if header and header[0] == BULK:
            reasons += tuple(f"overruled: {r}" for r in header[1])
        reasons += tuple(f"overruled: {cue}" for _, cue, _ in _header_cues(facts))
    return Classification(category, reasons)


def _by_context(facts: _Facts) -> Decision | None:
    context = facts.context
    wc_id = context.get("wc_email_id")
    if isinstance(wc_id, str) and wc_id:
        if wc_id in WOOCOMMERCE_EMAILS:
            return WOOCOMMERCE_EMAILS[wc_id], (f"context: WooCommerce email {wc_id}",)
        for prefix, category in WOOCOMMERCE_ID_PREFIXES:
            if wc_id.startswith(prefix):
                return category, (f"context: WooCommerce email {wc_id} (an extension's "
                                  f"{prefix}* email)",)
    kind = context.get("wp_mail_kind")
    if isinstance(kind, str) and kind in WORDPRESS_CORE_MAILS:
        return WORDPRESS_CORE_MAILS[kind], (f"context: WordPress core mail {kind}",)
    plugin = context.get("plugin")
    family = PLUGINS.get(plugin) if isinstance(plugin, str) else None
    if family in (TRANSACTIONAL, NOTIFICATION, BULK):
        return family, (f"context: sent by plugin {plugin}",)
    if family == ACCOUNT:
        reason = f"context: sent by plugin {plugin} ({ACCOUNT})"
        staff = _to_staff(facts)
        if staff:
            return NOTIFICATION, (reason, staff)
        return TRANSACTIONAL, (reason,)
    return None


def _by_plugin_headers(facts: _Facts) -> Decision | None:
    headers = facts.headers
    for name, values, category, meaning in HEADER_MARKS:
        value = headers.get(name.lower())
        if value is None:
            continue
        value = str(value).strip().lower()
        if values is None or value in values:
            shown = f"header: {name}" + (f": {value}" if values else "")
            return category, (shown + (f" ({meaning})" if meaning else ""),)
    for name in facts.names:
        for prefix, category in HEADER_PREFIXES:
            if name.lower().startswith(prefix):
                return category, (f"header: {name}",)
    return None


Cue = tuple[str, str, float]   # (category, what it is, weight)


def _header_cues(facts: _Facts) -> list[Cue]:
    cues = []
    for name, values, weight in HEADER_CUES:
        value = facts.headers.get(name.lower())
        if value is None:
            continue
        value = str(value).strip().lower()
        if values is not None and value not in values:
            continue
        shown = f"header: {name}" + (f": {value}" if values else "")
        if name == "List-Unsubscribe" and "mailto:" in value and "http" not in value:
            shown, weight = shown + " (mailto only)", MAILTO_ONLY_UNSUBSCRIBE
        cues.append((BULK, shown, weight))
    return cues


def _cues(facts: _Facts) -> list[Cue]:
    """The cues the message carries, with their weights (see :data:`BODY_MARKS` and the
    weights beside it). The body's words (order, account, confirmation, marketing) are read
    only when there is a bulk mark for them to weigh against."""
    auto = str(facts.headers.get("auto-submitted", "no")).strip().lower()
    automatic = auto != "no"
    cues = _header_cues(facts)
    count = len(facts.recipients)
    if count >= MANY_RECIPIENTS and not automatic:
        cues.append((BULK, f"recipients: {count} in one message", 10))
    if facts._body:
        links = facts.links
        for needles, category, meaning, weight in BODY_MARKS:
            if category == BULK and automatic:
                continue
            if any(n in links for n in needles):
                cues.append((category, f"body: {meaning}", weight))
        body = facts.body
        if not automatic and any(h in body for h in _PIXEL_HINTS) and _PIXEL.search(body):
            cues.append((BULK, "body: 1x1 tracking image", 1))
    if facts._body and any(c[0] == BULK for c in cues):
        # The words of the body only weigh against bulk marks: read them only then.
        body, text = facts.body, facts.text
        # Plain substring tests first: they are many times faster than the patterns.
        if _has(text, _CURRENCY) and _ORDER_NUMBER.search(text) and \
                (_TOTAL_WORD.search(text) and _AMOUNT.search(text) or len(_AMOUNT.findall(text)) >= 2):
            cues.append((NOT_BULK, "body: an order number with its lines or totals",
                         ORDER_WEIGHT))
        if any(m in body for m in WOOCOMMERCE_TEMPLATE):
            cues.append((NOT_BULK, "body: WooCommerce email template",
                         WOOCOMMERCE_TEMPLATE_WEIGHT))
        if _has(text, ("confirm", "bestätig", "bestatig", "bevestig", "conferma", "確認")) and \
                _CONFIRM_SUBSCRIPTION.search(text):
            cues.append((TRANSACTIONAL, "body: a request to confirm a subscription", CONFIRM_WEIGHT))
        if _has(text, _ACCOUNT_WORDS) and _ACCOUNT.search(text):
            cues.append((TRANSACTIONAL, "body: account or password words", ACCOUNT_WEIGHT))
        if not automatic and _has(text, _MARKETING_WORDS) and _MARKETING.search(text):
            cues.append((BULK, "body: marketing words", MARKETING_WEIGHT))
    staff = _to_staff(facts)
    if staff:
        cues.append((NOTIFICATION, staff, STAFF_WEIGHT))
    elif count == 1 and facts.from_address and \
            _domain(facts.recipients[0]) != _domain(facts.from_address):
        cues.append((TRANSACTIONAL, "recipients: one, outside the site", SINGLE_CUSTOMER))
    subject = _subject(facts.headers.get("subject"))
    match = _ADMIN_SUBJECT.search(subject) if subject else None
    if match:
        cues.append((NOTIFICATION, f"subject: {match.group(0)!r} (weak: a WordPress admin notice)",
                     ADMIN_SUBJECT_WEIGHT))
    return sorted(cues, key=lambda c: -c[2])


_CURRENCY = ("$", "€", "£", "¥", "円", "&euro;", "&pound;", "&yen;", "&#36;", "eur", "usd", "gbp", "chf")
_ACCOUNT_WORDS = ("account", "password", "log in", "login", "enrolled", "konto", "passwort",
                  "eingeschrieben", "compte", "mot de passe", "cuenta", "contraseña", "inscrito",
                  "wachtwoord", "conta", "senha", "アカウント", "パスワード")
_MARKETING_WORDS = ("% o", "% r", "% d", "% k", "% s", "coupon", "promo", "black friday",
                    "cyber monday", "sale", "soldes", "rebajas", "saldi",
                    "uitverkoop", "liquidação", "gutschein", "sonderangebot", "セール", "クーポン")


def _has(text: str, words: Sequence[str]) -> bool:
    return any(w in text for w in words)


def _by_evidence(facts: _Facts) -> Classification:
    cues = tuple(_cues(facts))
    score = {c: sum(w for cat, _, w in cues if cat == c) for c in (*CATEGORIES, NOT_BULK)}
    if score[BULK] > score[TRANSACTIONAL] + score[NOTIFICATION] + score[NOT_BULK]:
        category = BULK
    elif score[NOTIFICATION] > score[TRANSACTIONAL]:
        category = NOTIFICATION
    else:
        category = TRANSACTIONAL
    sides = (BULK,) if category == BULK else (category, NOT_BULK)
    won = tuple(cue for cat, cue, w in cues if cat in sides and w >= 1)
    lost = tuple(f"outweighed: {cue} ({w:g})" for cat, cue, w in cues if cat not in sides and
                 (cat == BULK or category == BULK))
    if not won:
        won = ("default: no bulk marks",) if not score[BULK] else \
            (f"default: weak bulk marks ({score[BULK]:g}) outweighed",)
    extra: tuple[str, ...] = ()
    plugin = facts.context.get("plugin")
    if PLUGINS.get(plugin) == NEWSLETTER:
        extra += (f"context: sent by plugin {plugin} (newsletter or subscription mail; "
                  "no campaign headers)",)
    auto = str(facts.headers.get("auto-submitted", "no")).strip().lower()
    if auto != "no":
        extra += (f"header: Auto-Submitted: {auto} (not a mailing)",)
    return Classification(category, won + lost + extra, cues)


def _to_staff(facts: _Facts) -> str | None:
    """Why the mail looks addressed to the site's own people, or None."""
    if facts._body and b"/wp-admin/" in facts.links:
        return "body: link into wp-admin (a notice to the site's staff)"
    sender, recipients = facts.from_address, facts.recipients
    if sender and recipients:
        if all(r == sender for r in recipients):
            return "recipients: the sender itself (the site writing to its own address)"
        domain = _domain(sender)
        if all(_domain(r) == domain for r in recipients):
            return f"recipients: all in the sender's domain {domain} (the site's staff)"
        reply_to = _first_address(facts.headers.get("reply-to", ""))
        if reply_to and _domain(reply_to) != domain and all(_domain(r) != _domain(reply_to)
                                                            for r in recipients):
            return "reply-to: outside the site (a visitor's message relayed to the site)"
    return None


def _subject(value: object) -> str:
    """The subject with RFC 2047 encoded words decoded (a small decoder: this runs per
    message and the email package's is several times slower)."""
    text = str(value or "")
    if "=?" not in text:
        return text
    return _ENCODED_WORD.sub(_decode_word, _BETWEEN_WORDS.sub("?==?", text))


def _decode_word(match: re.Match) -> str:
    charset, encoding, data = match.groups()
    try:
        if encoding in "bB":
            raw = base64.b64decode(data + "=" * (-len(data) % 4))
        else:
            raw = quopri.decodestring(data.replace("_", " ").encode("ascii"), header=True)
        return raw.decode(charset.partition("*")[0], "replace")
    except (ValueError, LookupError, binascii.Error):
        return match.group(0)
