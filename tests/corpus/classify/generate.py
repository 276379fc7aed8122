"""Write the labelled classification corpus: messages/*.eml and labels.csv.

    python tests/corpus/classify/generate.py

Deterministic: the same files every run (fixed seed, fixed dates), so the committed corpus
can be checked against this script. Messages are built the way their senders build them:
PHPMailer's header block as WordPress (and the bridge's plugin) writes it, the headers each
plugin adds itself (WooCommerce, MailPoet, The Newsletter Plugin, Mailster, Contact Form 7,
WPForms, Gravity Forms, MemberPress, Paid Memberships Pro, LearnDash, Wordfence, Solid
Security), their link formats, several languages, and customised subjects. The context the
WordPress plugin sends (or {"source": "smtp"} for the SMTP door) is in X-WPBridge-Context.

Labels follow the order of trust of issue 4 (site rules, then explicit context, then explicit
headers, then heuristics), never the classifier's output; each label has a note saying why.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import quopri
import random
from dataclasses import dataclass, field
from email.header import Header
from email.utils import formatdate
from pathlib import Path

HERE = Path(__file__).resolve().parent
T, N, B = "transactional", "notification", "bulk"
MAILER = "PHPMailer 6.6.5 (https://github.com/PHPMailer/PHPMailer)"
rng = random.Random(20240517)
_clock = [1715000000]


@dataclass
class Site:
    name: str
    domain: str
    lang: str
    admin: str
    account_slug: str
    customers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The key of this site's language in the text tables ("pt" for pt_BR)."""
        return self.lang[:2]

    @property
    def url(self) -> str:
        return f"https://{self.domain}"

    def customer(self) -> tuple[str, str]:
        return rng.choice(self.customers)


SITES = {
    "en": Site(
        "Harbor Outfitters",
        "harboroutfitters.com",
        "en",
        "owner@harboroutfitters.com",
        "my-account",
        [
            ("Emily Carter", "emily.carter@gmail.com"),
            ("James O'Neil", "jim.oneil@outlook.com"),
            ("Priya Raman", "priya.raman@yahoo.com"),
        ],
    ),
    "de": Site(
        "Kaffeerösterei Brandt",
        "brandt-kaffee.de",
        "de",
        "inhaber@brandt-kaffee.de",
        "mein-konto",
        [
            ("Anna Schmidt", "anna.schmidt@web.de"),
            ("Jürgen Weiß", "j.weiss@gmx.de"),
            ("Lena Vogel", "lena.vogel@t-online.de"),
        ],
    ),
    "fr": Site(
        "Maison Lumière",
        "maison-lumiere.fr",
        "fr",
        "contact.maisonlumiere@gmail.com",
        "mon-compte",
        [("Camille Dubois", "camille.dubois@orange.fr"), ("Hélène Martin", "helene.martin@free.fr")],
    ),
    "es": Site(
        "Tienda Sol",
        "tiendasol.es",
        "es",
        "admin@tiendasol.es",
        "mi-cuenta",
        [("Lucía García", "lucia.garcia@gmail.com"), ("Javier Núñez", "jnunez@hotmail.es")],
    ),
    "nl": Site(
        "Fietsenwinkel Zuid",
        "fietsenzuid.nl",
        "nl",
        "info@fietsenzuid.nl",
        "mijn-account",
        [("Sanne de Vries", "sanne.devries@ziggo.nl"), ("Bram Jansen", "bram.jansen@kpnmail.nl")],
    ),
    "it": Site(
        "Bottega Verde Firenze",
        "bottegaverde-firenze.it",
        "it",
        "bottegaverde.fi@gmail.com",
        "mio-account",
        [("Giulia Rossi", "giulia.rossi@libero.it"), ("Marco Bianchi", "m.bianchi@virgilio.it")],
    ),
    "pt": Site(
        "Loja Aurora",
        "lojaaurora.com.br",
        "pt_BR",
        "contato@lojaaurora.com.br",
        "minha-conta",
        [("Ana Souza", "ana.souza@uol.com.br"), ("João Pereira", "joao.pereira@bol.com.br")],
    ),
    "ja": Site(
        "さくら雑貨店",
        "sakura-zakka.jp",
        "ja",
        "info@sakura-zakka.jp",
        "my-account",
        [("山田 花子", "hanako.yamada@docomo.ne.jp"), ("佐藤 健", "ken.sato@yahoo.co.jp")],
    ),
}
LANGS = list(SITES)


class Corpus:
    def __init__(self, out: Path):
        self.out = out
        self.rows: list[tuple[str, str, str]] = []

    def add(self, name: str, category: str, note: str, raw: bytes) -> None:
        name = f"{len(self.rows) + 1:03d}-{name}.eml"
        (self.out / "messages" / name).write_bytes(raw)
        self.rows.append((name, category, note))


def _date() -> str:
    _clock[0] += rng.randint(300, 40000)
    return formatdate(_clock[0], usegmt=True).replace("GMT", "+0000")


def _msgid(domain: str) -> str:
    return f"<{hashlib.md5(str(rng.random()).encode()).hexdigest()[:22]}@{domain}>"


def _encode_header(value: str) -> str:
    if all(ord(c) < 128 for c in value):
        return value
    return Header(value, "utf-8", maxlinelen=998).encode()


def _addr(name: str, email: str) -> str:
    return f"{_encode_header(name)} <{email}>" if name else email


def _body_part(text: str, ctype: str, cte: str) -> tuple[list[str], bytes]:
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    if cte == "base64":
        raw = base64.encodebytes(data).replace(b"\n", b"\r\n")
    elif cte == "quoted-printable":
        raw = quopri.encodestring(data.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
    else:
        raw = data
    return [f"Content-Type: {ctype}; charset=UTF-8", f"Content-Transfer-Encoding: {cte}"], raw


def message(
    *,
    context: dict | None,
    sender: tuple[str, str],
    to: list[tuple[str, str]],
    subject: str,
    html: str | None = None,
    text: str | None = None,
    cte: str = "8bit",
    headers: list[tuple[str, str]] = (),
    reply_to=None,
    cc: list[tuple[str, str]] = (),
    bcc: list[str] = (),
    mailer: str | None = MAILER,
    domain: str | None = None,
) -> bytes:
    """One RFC 5322 message as PHPMailer (WordPress's mailer) lays it out."""
    domain = domain or sender[1].rpartition("@")[2]
    lines = []
    if context is not None:
        lines.append("X-WPBridge-Context: " + json.dumps(context))
    lines += [f"Date: {_date()}", "To: " + ", ".join(_addr(n, e) for n, e in to), "From: " + _addr(*sender)]
    if cc:
        lines.append("Cc: " + ", ".join(_addr(n, e) for n, e in cc))
    if bcc:
        lines.append("Bcc: " + ", ".join(bcc))
    if reply_to:
        lines.append("Reply-To: " + _addr(*reply_to))
    lines += [f"Subject: {_encode_header(subject)}", f"Message-ID: {_msgid(domain)}"]
    if mailer:
        lines.append(f"X-Mailer: {mailer}")
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append("MIME-Version: 1.0")
    if html is not None and text is not None:
        boundary = "b1_" + hashlib.md5(subject.encode()).hexdigest()[:24]
        lines.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"')
        out = ("\r\n".join(lines) + "\r\n\r\n" + "This is a multi-part message in MIME format.\r\n").encode()
        for ctype, content in (("text/plain", text), ("text/html", html)):
            part_headers, raw = _body_part(content, ctype, cte)
            out += f"\r\n--{boundary}\r\n".encode() + "\r\n".join(part_headers).encode() + b"\r\n\r\n" + raw
        return out + f"\r\n\r\n--{boundary}--\r\n".encode()
    part_headers, raw = _body_part(
        html if html is not None else text or "", "text/html" if html is not None else "text/plain", cte
    )
    return ("\r\n".join(lines + part_headers) + "\r\n\r\n").encode() + raw + b"\r\n"


def wp_context(site: Site, plugin: str | None = None, **extra) -> dict:
    context: dict = {"source": "wp_mail", "site_url": site.url + "/"}
    context.update(extra)
    if plugin:
        context["plugin"] = plugin
    return context


SMTP = {"source": "smtp"}


def token(n: int = 20) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


def b64token(n: int = 60) -> str:
    return base64.urlsafe_b64encode(bytes(rng.getrandbits(8) for _ in range(n))).decode().rstrip("=")


# -- WooCommerce -------------------------------------------------------------------------

WC_SUBJECTS = {
    "customer_processing_order": {
        "en": "Your {site} order has been received!",
        "de": "Deine Bestellung bei {site} ist eingegangen!",
        "fr": "Votre commande {site} a bien été reçue !",
        "es": "¡Hemos recibido tu pedido en {site}!",
        "nl": "Je bestelling bij {site} is ontvangen!",
        "it": "Il tuo ordine su {site} è stato ricevuto!",
        "pt": "Seu pedido em {site} foi recebido!",
        "ja": "{site}でのご注文を受け付けました",
    },
    "customer_completed_order": {
        "en": "Your {site} order is now complete",
        "de": "Deine Bestellung bei {site} ist jetzt abgeschlossen",
        "fr": "Votre commande {site} est terminée",
        "es": "Tu pedido en {site} se ha completado",
        "nl": "Je bestelling bij {site} is nu voltooid",
        "it": "Il tuo ordine su {site} è stato completato",
        "pt": "Seu pedido em {site} foi concluído",
        "ja": "{site}でのご注文が完了しました",
    },
    "customer_on_hold_order": {
        "en": "Your {site} order has been received!",
        "de": "Deine Bestellung bei {site} wartet auf Zahlung",
        "fr": "Votre commande {site} est en attente",
        "es": "Tu pedido en {site} está en espera",
        "nl": "Je bestelling bij {site} staat in de wacht",
        "it": "Il tuo ordine su {site} è in sospeso",
        "pt": "Seu pedido em {site} está aguardando",
        "ja": "{site}でのご注文は保留中です",
    },
    "customer_refunded_order": {
        "en": "Your {site} order #{order} has been refunded",
        "de": "Deine Bestellung #{order} bei {site} wurde erstattet",
        "fr": "Votre commande n°{order} sur {site} a été remboursée",
        "es": "Tu pedido #{order} en {site} ha sido reembolsado",
        "nl": "Je bestelling #{order} bij {site} is terugbetaald",
        "it": "Il tuo ordine #{order} su {site} è stato rimborsato",
        "pt": "Seu pedido #{order} em {site} foi reembolsado",
        "ja": "{site}のご注文 #{order} は返金されました",
    },
    "customer_partially_refunded_order": {
        "en": "Your {site} order #{order} has been partially refunded",
        "de": "Deine Bestellung #{order} bei {site} wurde teilweise erstattet",
        "fr": "Votre commande n°{order} sur {site} a été partiellement remboursée",
        "es": "Tu pedido #{order} en {site} ha sido reembolsado parcialmente",
        "nl": "Je bestelling #{order} bij {site} is gedeeltelijk terugbetaald",
        "it": "Il tuo ordine #{order} su {site} è stato parzialmente rimborsato",
        "pt": "Seu pedido #{order} em {site} foi parcialmente reembolsado",
        "ja": "{site}のご注文 #{order} は一部返金されました",
    },
    "customer_invoice": {
        "en": "Invoice for order #{order} on {site}",
        "de": "Rechnung für Bestellung #{order} bei {site}",
        "fr": "Facture de la commande n°{order} sur {site}",
        "es": "Factura del pedido #{order} en {site}",
        "nl": "Factuur voor bestelling #{order} bij {site}",
        "it": "Fattura per l'ordine #{order} su {site}",
        "pt": "Fatura do pedido #{order} em {site}",
        "ja": "{site} ご注文 #{order} の請求書",
    },
    "customer_note": {
        "en": "Note added to your {site} order from {date}",
        "de": "Anmerkung zu deiner Bestellung bei {site} vom {date}",
        "fr": "Note ajoutée à votre commande {site} du {date}",
        "es": "Nota añadida a tu pedido de {site} del {date}",
        "nl": "Notitie toegevoegd aan je bestelling bij {site} van {date}",
        "it": "Nota aggiunta al tuo ordine su {site} del {date}",
        "pt": "Nota adicionada ao seu pedido em {site} de {date}",
        "ja": "{site}のご注文（{date}）にメモが追加されました",
    },
    "customer_new_account": {
        "en": "Your {site} account has been created!",
        "de": "Dein Kundenkonto bei {site} wurde erstellt!",
        "fr": "Votre compte sur {site} a été créé !",
        "es": "¡Se ha creado tu cuenta en {site}!",
        "nl": "Je account bij {site} is aangemaakt!",
        "it": "Il tuo account su {site} è stato creato!",
        "pt": "Sua conta em {site} foi criada!",
        "ja": "{site}のアカウントが作成されました",
    },
    "customer_reset_password": {
        "en": "Password Reset Request for {site}",
        "de": "Anfrage zum Zurücksetzen des Passworts für {site}",
        "fr": "Demande de réinitialisation du mot de passe pour {site}",
        "es": "Solicitud de restablecimiento de contraseña para {site}",
        "nl": "Verzoek om wachtwoord te resetten voor {site}",
        "it": "Richiesta di reimpostazione della password per {site}",
        "pt": "Solicitação de redefinição de senha para {site}",
        "ja": "{site}のパスワード再設定リクエスト",
    },
    "customer_failed_order": {
        "en": "Your {site} order was unsuccessful",
        "de": "Deine Bestellung bei {site} ist fehlgeschlagen",
        "fr": "Votre commande {site} n'a pas abouti",
        "es": "Tu pedido en {site} no se ha completado",
        "nl": "Je bestelling bij {site} is mislukt",
        "it": "Il tuo ordine su {site} non è andato a buon fine",
        "pt": "Seu pedido em {site} não foi concluído",
        "ja": "{site}でのご注文は完了できませんでした",
    },
    "customer_cancelled_order": {
        "en": "Your {site} order #{order} has been cancelled",
        "de": "Deine Bestellung #{order} bei {site} wurde storniert",
        "fr": "Votre commande n°{order} sur {site} a été annulée",
        "es": "Tu pedido #{order} en {site} ha sido cancelado",
        "nl": "Je bestelling #{order} bij {site} is geannuleerd",
        "it": "Il tuo ordine #{order} su {site} è stato annullato",
        "pt": "Seu pedido #{order} em {site} foi cancelado",
        "ja": "{site}のご注文 #{order} はキャンセルされました",
    },
    "new_order": {
        "en": "[{site}]: New order #{order}",
        "de": "[{site}]: Neue Bestellung #{order}",
        "fr": "[{site}] : Nouvelle commande n°{order}",
        "es": "[{site}]: Nuevo pedido #{order}",
        "nl": "[{site}]: Nieuwe bestelling #{order}",
        "it": "[{site}]: Nuovo ordine #{order}",
        "pt": "[{site}]: Novo pedido #{order}",
        "ja": "[{site}]: 新規注文 #{order}",
    },
    "cancelled_order": {
        "en": "[{site}]: Order #{order} has been cancelled",
        "de": "[{site}]: Bestellung #{order} wurde storniert",
        "fr": "[{site}] : La commande n°{order} a été annulée",
        "es": "[{site}]: El pedido #{order} ha sido cancelado",
        "nl": "[{site}]: Bestelling #{order} is geannuleerd",
        "it": "[{site}]: L'ordine #{order} è stato annullato",
        "pt": "[{site}]: O pedido #{order} foi cancelado",
        "ja": "[{site}]: 注文 #{order} はキャンセルされました",
    },
    "failed_order": {
        "en": "[{site}]: Order #{order} has failed",
        "de": "[{site}]: Bestellung #{order} ist fehlgeschlagen",
        "fr": "[{site}] : La commande n°{order} a échoué",
        "es": "[{site}]: El pedido #{order} ha fallado",
        "nl": "[{site}]: Bestelling #{order} is mislukt",
        "it": "[{site}]: L'ordine #{order} non è riuscito",
        "pt": "[{site}]: O pedido #{order} falhou",
        "ja": "[{site}]: 注文 #{order} は失敗しました",
    },
    "low_stock": {
        "en": "[{site}] Product low in stock",
        "de": "[{site}] Geringer Lagerbestand",
        "fr": "[{site}] Stock faible",
        "es": "[{site}] Producto con pocas existencias",
        "nl": "[{site}] Product bijna uitverkocht",
        "it": "[{site}] Prodotto in esaurimento",
        "pt": "[{site}] Produto com estoque baixo",
        "ja": "[{site}] 在庫僅少",
    },
    "no_stock": {
        "en": "[{site}] Product out of stock",
        "de": "[{site}] Produkt nicht vorrätig",
        "fr": "[{site}] Produit en rupture de stock",
        "es": "[{site}] Producto agotado",
        "nl": "[{site}] Product niet op voorraad",
        "it": "[{site}] Prodotto esaurito",
        "pt": "[{site}] Produto fora de estoque",
        "ja": "[{site}] 在庫切れ",
    },
    "backorder": {
        "en": "[{site}] Product backorder",
        "de": "[{site}] Lieferrückstand",
        "fr": "[{site}] Commande en réapprovisionnement",
        "es": "[{site}] Producto en reserva",
        "nl": "[{site}] Product in nabestelling",
        "it": "[{site}] Prodotto in arretrato",
        "pt": "[{site}] Produto em encomenda",
        "ja": "[{site}] 取り寄せ注文",
    },
}
# Newer core ids, in English and German.
WC_SUBJECTS_NEW = {
    "customer_pos_completed_order": (
        "Your in-store purchase receipt from {site}",
        "Dein Kassenbeleg von {site}",
        T,
    ),
    "customer_pos_refunded_order": (
        "Your in-store refund from {site}",
        "Deine Erstattung im Laden von {site}",
        T,
    ),
    "customer_fulfillment_created": (
        "Your {site} order #{order} is on its way",
        "Deine Bestellung #{order} bei {site} ist unterwegs",
        T,
    ),
    "customer_fulfillment_updated": (
        "Your shipment from {site} has been updated",
        "Deine Sendung von {site} wurde aktualisiert",
        T,
    ),
    "customer_fulfillment_deleted": (
        "A shipment for your {site} order #{order} was removed",
        "Eine Sendung zu deiner Bestellung #{order} wurde entfernt",
        T,
    ),
    "customer_stock_notification": ("Back in stock at {site}", "Wieder vorrätig bei {site}", T),
    "customer_stock_notification_verify": (
        "Confirm your stock alert at {site}",
        "Bestätige deine Verfügbarkeitsbenachrichtigung bei {site}",
        T,
    ),
    "customer_stock_notification_verified": (
        "You're on the list at {site}",
        "Du stehst auf der Liste bei {site}",
        T,
    ),
    "customer_review_request": ("How was your order from {site}?", "Wie war deine Bestellung bei {site}?", T),
    "customer_abandoned_cart_recovery": ("Still want it?", "Noch interessiert?", T),
    "admin_payment_gateway_enabled": (
        '[{site}] Payment gateway "Stripe" enabled',
        '[{site}] Zahlungsart "Stripe" aktiviert',
        N,
    ),
}
CUSTOM_SUBJECTS = {
    "customer_processing_order": {
        "en": "🎉 You're going to love this, {first}!",
        "de": "☕ Frische Bohnen sind unterwegs zu dir!",
        "fr": "Merci {first} ✨ votre panier prend la route",
        "ja": "ご注文ありがとうございます🌸",
    },
    "customer_completed_order": {
        "en": "Big news: your gear just shipped! 🚚",
        "es": "¡Oferta cumplida! Tu pedido ya está en camino 🎁",
        "it": "Ultima occasione? No: il tuo ordine è partito!",
        "pt": "Novidade imperdível: seu pedido saiu! 🔥",
    },
    "customer_invoice": {
        "en": "Don't miss out – complete your order today",
        "nl": "Laatste kans: rond je bestelling af",
    },
    "new_order": {
        "en": "💰 Cha-ching! Order #{order} from {first}",
        "de": "Neue Bestellung! #{order} ({total})",
    },
    "customer_note": {
        "en": "Weekly update: a note about your order",
        "fr": "Newsletter de votre commande : une note pour vous",
    },
}
WC_TEXT = {
    "en": (
        "Hi {first},",
        "Just to let you know — we've received your order #{order}, and it is now being processed:",
        "Order summary",
        "Product",
        "Quantity",
        "Price",
        "Total:",
        "Billing address",
        "View your order",
        "Thanks for shopping with us.",
    ),
    "de": (
        "Hallo {first},",
        "wir haben deine Bestellung #{order} erhalten und bearbeiten sie jetzt:",
        "Bestellübersicht",
        "Produkt",
        "Anzahl",
        "Preis",
        "Gesamt:",
        "Rechnungsadresse",
        "Bestellung ansehen",
        "Danke für deinen Einkauf.",
    ),
    "fr": (
        "Bonjour {first},",
        "Nous avons bien reçu votre commande n°{order}, elle est en cours de traitement :",
        "Récapitulatif",
        "Produit",
        "Quantité",
        "Prix",
        "Total :",
        "Adresse de facturation",
        "Voir votre commande",
        "Merci pour votre achat.",
    ),
    "es": (
        "Hola {first}:",
        "Te confirmamos que hemos recibido tu pedido #{order} y ya lo estamos procesando:",
        "Resumen del pedido",
        "Producto",
        "Cantidad",
        "Precio",
        "Total:",
        "Dirección de facturación",
        "Ver tu pedido",
        "Gracias por tu compra.",
    ),
    "nl": (
        "Hoi {first},",
        "We hebben je bestelling #{order} ontvangen en gaan ermee aan de slag:",
        "Besteloverzicht",
        "Product",
        "Aantal",
        "Prijs",
        "Totaal:",
        "Factuuradres",
        "Bekijk je bestelling",
        "Bedankt voor je bestelling.",
    ),
    "it": (
        "Ciao {first},",
        "Abbiamo ricevuto il tuo ordine #{order} e lo stiamo elaborando:",
        "Riepilogo ordine",
        "Prodotto",
        "Quantità",
        "Prezzo",
        "Totale:",
        "Indirizzo di fatturazione",
        "Visualizza il tuo ordine",
        "Grazie per il tuo acquisto.",
    ),
    "pt": (
        "Olá {first},",
        "Recebemos o seu pedido #{order} e ele já está sendo processado:",
        "Resumo do pedido",
        "Produto",
        "Quantidade",
        "Preço",
        "Total:",
        "Endereço de cobrança",
        "Ver seu pedido",
        "Obrigado pela sua compra.",
    ),
    "ja": (
        "{first} 様",
        "ご注文 #{order} を承りました。現在処理中です。",
        "ご注文内容",
        "商品",
        "数量",
        "価格",
        "合計:",
        "請求先住所",
        "ご注文を確認する",
        "ご利用ありがとうございました。",
    ),
}
PRODUCTS = {
    "en": [
        ("Waxed canvas jacket", "$189.00"),
        ("Merino beanie", "$34.00"),
        ("Trail socks (3-pack)", "$24.00"),
    ],
    "de": [
        ("Espresso Bohnen 1 kg", "24,90 €"),
        ("Handfilter Keramik", "29,00 €"),
        ("Filterpapier 100 Stk.", "4,50 €"),
    ],
    "fr": [("Lampe de chevet en laiton", "89,00 €"), ("Bougie parfumée figue", "24,00 €")],
    "es": [("Aceite de oliva virgen extra 1 L", "14,50 €"), ("Cesta de mimbre", "32,00 €")],
    "nl": [("Fietsslot ART-2", "€ 49,95"), ("Achterlicht LED", "€ 19,95")],
    "it": [("Sapone all'olio d'oliva", "8,50 €"), ("Crema mani alla lavanda", "12,90 €")],
    "pt": [("Caneca de cerâmica", "R$ 49,90"), ("Kit café coado", "R$ 129,00")],
    "ja": [("手ぬぐい（桜柄）", "¥1,320"), ("有田焼 マグカップ", "¥3,850")],
}
WC_STYLE = "background-color:#f7f7f7;margin:0;padding:70px 0;width:100%;-webkit-text-size-adjust:none;"


def wc_html(
    site: Site,
    heading: str,
    paragraphs: list[str],
    order: int | None,
    admin: bool,
    link: tuple[str, str] | None = None,
    footer: str = "",
) -> str:
    """WooCommerce's classic email template (email-header.php, order table, email-footer.php);
    ``footer`` is what a shop adds to the footer text (social links with utm_ parameters)."""
    text = WC_TEXT[site.key]
    rows = ""
    for name, price in PRODUCTS[site.key]:
        qty = rng.randint(1, 3)
        rows += (
            f'<tr class="order_item"><td class="td" style="color:#636363;border:1px solid #e5e5e5;'
            f"padding:12px;text-align:left;vertical-align:middle;font-family:'Helvetica Neue',Helvetica,"
            f'Roboto,Arial,sans-serif;word-wrap:break-word">{name}</td><td class="td" style="color:#636363;'
            f"border:1px solid #e5e5e5;padding:12px;text-align:left;vertical-align:middle;font-family:"
            f'\'Helvetica Neue\',Helvetica,Roboto,Arial,sans-serif">{qty}</td><td class="td" style="color:'
            f"#636363;border:1px solid #e5e5e5;padding:12px;text-align:left;vertical-align:middle;font-family:"
            f"'Helvetica Neue',Helvetica,Roboto,Arial,sans-serif\"><span class=\"woocommerce-Price-amount "
            f'amount">{price}</span></td></tr>\n'
        )
    table = ""
    if order:
        table = (
            f"<h2 style=\"color:#7f54b3;display:block;font-family:'Helvetica Neue',Helvetica,Roboto,Arial,"
            f'sans-serif;font-size:18px;font-weight:bold;line-height:130%;margin:0 0 18px;text-align:left">'
            f'[{text[2]} #{order}] ({_date()[5:16]})</h2>\n<div style="margin-bottom:40px"><table class="td" '
            f'cellspacing="0" cellpadding="6" border="1" style="color:#636363;border:1px solid #e5e5e5;'
            f"vertical-align:middle;width:100%;font-family:'Helvetica Neue',Helvetica,Roboto,Arial,sans-serif\">"
            f'<thead><tr><th class="td" scope="col" style="text-align:left">{text[3]}</th><th class="td" '
            f'scope="col" style="text-align:left">{text[4]}</th><th class="td" scope="col" style="text-align:'
            f'left">{text[5]}</th></tr></thead><tbody>\n{rows}</tbody><tfoot><tr><th class="td" scope="row" '
            f'colspan="2" style="text-align:left;border-top-width:4px">{text[6]}</th><td class="td" style='
            f'"text-align:left;border-top-width:4px">{rng.randint(20, 300)}</td></tr></tfoot></table></div>\n'
            f'<table id="addresses" cellspacing="0" cellpadding="0" border="0" style="width:100%;vertical-align:'
            f'top;margin-bottom:40px;padding:0"><tr><td valign="top" width="50%" style="text-align:left;'
            f"font-family:'Helvetica Neue',Helvetica,Roboto,Arial,sans-serif;border:0;padding:0\"><h2 style="
            f'"color:#7f54b3;font-size:18px;font-weight:bold">{text[7]}</h2><address class="address" style='
            f'"padding:12px;color:#636363;border:1px solid #e5e5e5">{rng.choice(site.customers)[0]}<br>'
            f"{rng.randint(1, 200)} Example Street<br>{site.domain.split('.')[-1].upper()}</address></td></tr></table>\n"
        )
    if link is None and order:
        link = (
            (f"{site.url}/wp-admin/admin.php?page=wc-orders&amp;action=edit&amp;id={order}", f"#{order}")
            if admin
            else (f"{site.url}/{site.account_slug}/view-order/{order}/", text[8])
        )
    link_html = (
        (
            f'<p style="margin:0 0 16px"><a href="{link[0]}" style="color:#7f54b3;font-weight:normal;'
            f'text-decoration:underline">{link[1]}</a></p>\n'
        )
        if link
        else ""
    )
    body = "".join(f'<p style="margin:0 0 16px">{p}</p>\n' for p in paragraphs)
    return (
        f'<!DOCTYPE html>\n<html lang="{site.key}">\n<head>\n<meta http-equiv="Content-Type" content="text/html; '
        f'charset=UTF-8">\n<meta content="width=device-width, initial-scale=1.0" name="viewport">\n<title>'
        f'{site.name}</title>\n</head>\n<body leftmargin="0" marginwidth="0" topmargin="0" marginheight="0" '
        f'offset="0" style="padding:0">\n<div id="wrapper" dir="ltr" style="{WC_STYLE}">\n<table border="0" '
        f'cellpadding="0" cellspacing="0" height="100%" width="100%"><tr><td align="center" valign="top">\n'
        f'<div id="template_header_image"><p style="margin-top:0"><img src="{site.url}/wp-content/uploads/'
        f'2023/04/logo-email.png" alt="{site.name}" style="border:none;display:inline-block;font-size:14px;'
        f"font-weight:bold;height:auto;outline:none;text-decoration:none;text-transform:capitalize;"
        f'vertical-align:middle;max-width:100%;margin-left:0;margin-right:0"></p></div>\n<table border="0" '
        f'cellpadding="0" cellspacing="0" width="600" id="template_container" style="background-color:#ffffff;'
        f'border:1px solid #dedede;box-shadow:0 1px 4px rgba(0,0,0,0.1);border-radius:3px"><tr><td align='
        f'"center" valign="top"><table border="0" cellpadding="0" cellspacing="0" width="100%" id='
        f'"template_header" style="background-color:#7f54b3;color:#ffffff;border-bottom:0;font-weight:bold;'
        f"line-height:100%;vertical-align:middle;font-family:'Helvetica Neue',Helvetica,Roboto,Arial,"
        f'sans-serif;border-radius:3px 3px 0 0"><tr><td id="header_wrapper" style="padding:36px 48px;display:'
        f"block\"><h1 style=\"font-family:'Helvetica Neue',Helvetica,Roboto,Arial,sans-serif;font-size:30px;"
        f"font-weight:300;line-height:150%;margin:0;text-align:left;text-shadow:0 1px 0 #9976c2;color:#ffffff;"
        f'background-color:inherit">{heading}</h1></td></tr></table></td></tr>\n<tr><td align="center" valign='
        f'"top"><table border="0" cellpadding="0" cellspacing="0" width="600" id="template_body"><tr><td valign='
        f'"top" id="body_content" style="background-color:#ffffff"><table border="0" cellpadding="20" '
        f'cellspacing="0" width="100%"><tr><td valign="top" style="padding:48px 48px 32px"><div id='
        f'"body_content_inner" style="color:#636363;font-family:\'Helvetica Neue\',Helvetica,Roboto,Arial,'
        f'sans-serif;font-size:14px;line-height:150%;text-align:left">\n{body}{table}{link_html}</div></td>'
        f'</tr></table></td></tr></table></td></tr></table></td></tr>\n<tr><td align="center" valign="top">'
        f'<table border="0" cellpadding="10" cellspacing="0" width="600" id="template_footer"><tr><td valign='
        f'"top" style="padding:0;border-radius:6px"><table border="0" cellpadding="10" cellspacing="0" width='
        f'"100%"><tr><td colspan="2" valign="middle" id="credit" style="border-radius:6px;border:0;color:'
        f"#8a8a8a;font-family:'Helvetica Neue',Helvetica,Roboto,Arial,sans-serif;font-size:12px;line-height:"
        f'150%;text-align:center;padding:24px 0"><p style="margin:0 0 16px">{site.name} — <a href="{site.url}'
        f'" style="color:#7f54b3;font-weight:normal;text-decoration:underline">{site.domain}</a></p>{footer}</td></tr>'
        f"</table></td></tr></table></td></tr></table>\n</div>\n</body>\n</html>\n"
    )


def wc_message(
    corpus: Corpus,
    site: Site,
    email_id: str,
    subject_tpl: str,
    category: str,
    *,
    custom: bool = False,
    cte: str | None = None,
    extra_headers=(),
    context=None,
    note: str = "",
    label: str | None = None,
    name: str | None = None,
    footer: str = "",
) -> None:
    order = rng.randint(1040, 9800)
    first_name, cust_email = site.customer()
    first = first_name.split()[-1] if site.lang == "ja" else first_name.split()[0]
    admin = category == N
    subject = subject_tpl.format(
        site=site.name,
        order=order,
        first=first,
        date=_date()[5:16],
        total=PRODUCTS[site.key][0][1],
    )
    text = WC_TEXT[site.key]
    paragraphs = (
        [text[0].format(first=first), text[1].format(order=order)]
        if not admin
        else [f"{first_name} ({cust_email}) — #{order}"]
    )
    has_order = email_id not in (
        "customer_new_account",
        "customer_reset_password",
        "low_stock",
        "no_stock",
        "backorder",
        "admin_payment_gateway_enabled",
        "customer_stock_notification",
        "customer_stock_notification_verify",
        "customer_stock_notification_verified",
    )
    link = None
    if email_id == "customer_reset_password":
        link = (
            f"{site.url}/{site.account_slug}/lost-password/?key={token()}&amp;id={rng.randint(2, 900)}",
            text[8],
        )
    elif email_id in ("low_stock", "no_stock", "backorder"):
        link = None
    elif email_id == "admin_payment_gateway_enabled":
        link = (
            f"{site.url}/wp-admin/admin.php?page=wc-settings&amp;tab=checkout&amp;section=stripe",
            "Stripe",
        )
    elif email_id.startswith("customer_stock_notification"):
        link = (f"{site.url}/product/{token(8)}/?notification_key={token()}", text[8])
    html = wc_html(
        site,
        subject.split("]")[-1].strip(": "),
        paragraphs,
        order if has_order else None,
        admin,
        link,
        footer,
    )
    shop_from = (site.name, f"shop@{site.domain}" if site.lang != "fr" else f"boutique@{site.domain}")
    if admin:
        to = [("", site.admin)]
        reply_to = (first_name, cust_email) if has_order else None
    else:
        to = [(first_name, cust_email)]
        reply_to = shop_from
    if cte is None:
        cte = (
            "base64"
            if site.lang == "ja" and rng.random() < 0.5
            else rng.choice(["8bit", "8bit", "quoted-printable"])
        )
    if context is None:
        context = wp_context(site, "woocommerce", wc_email_id=email_id)
        if has_order and email_id not in ("low_stock", "no_stock", "backorder"):
            context["wc_order_id"] = order
    raw = message(
        context=context,
        sender=shop_from,
        to=to,
        subject=subject,
        html=html,
        cte=cte,
        headers=list(extra_headers),
        reply_to=reply_to,
    )
    lang = "pt-BR" if site.lang == "pt_BR" else site.lang
    corpus.add(
        name or f"wc-{email_id}-{lang}",
        label or category,
        note
        or (
            f"WooCommerce {email_id}, {lang}"
            + (", customised subject" if custom else "")
            + "; context wc_email_id decides"
        ),
        raw,
    )


def woocommerce(corpus: Corpus) -> None:
    ids = list(WC_SUBJECTS)
    for i, email_id in enumerate(ids):
        category = T if email_id.startswith("customer_") else N
        for j in range(5):
            lang = LANGS[(i * 3 + j) % len(LANGS)]
            custom = CUSTOM_SUBJECTS.get(email_id, {}).get(lang) if j < 2 else None
            wc_message(
                corpus,
                SITES[lang],
                email_id,
                custom or WC_SUBJECTS[email_id][lang],
                category,
                custom=bool(custom),
            )
    for email_id, (en, de, category) in WC_SUBJECTS_NEW.items():
        wc_message(corpus, SITES["en"], email_id, en, category)
        wc_message(corpus, SITES["de"], email_id, de, category)

    # Hard cases.
    wc_message(
        corpus,
        SITES["en"],
        "customer_completed_order",
        "🔥 Flash sale? No — your receipt is here!",
        T,
        custom=True,
        name="wc-receipt-marketing-subject-en",
        note="receipt whose admin-written subject sounds like a campaign; context decides",
    )
    careless = [
        ("List-Unsubscribe", "<https://harboroutfitters.com/?unsubscribe=all>"),
        ("Precedence", "bulk"),
    ]
    wc_message(
        corpus,
        SITES["en"],
        "customer_processing_order",
        WC_SUBJECTS["customer_processing_order"]["en"],
        T,
        extra_headers=careless,
        name="wc-careless-list-unsubscribe-en",
        note="a careless plugin adds List-Unsubscribe and Precedence: bulk to every wp_mail(); "
        "WooCommerce context outranks headers",
    )
    wc_message(
        corpus,
        SITES["de"],
        "customer_invoice",
        WC_SUBJECTS["customer_invoice"]["de"],
        T,
        extra_headers=[("List-Unsubscribe", "<mailto:abmelden@brandt-kaffee.de>")],
        name="wc-careless-list-unsubscribe-de",
        note="invoice with a List-Unsubscribe from a site-wide snippet; context outranks headers",
    )
    wc_message(
        corpus,
        SITES["en"],
        "new_order",
        WC_SUBJECTS["new_order"]["en"],
        N,
        extra_headers=[("List-Id", "<orders.harboroutfitters.com>")],
        name="wc-new-order-list-id-en",
        note="admin new-order mail with a List-Id from a mailing-list style forwarder; context decides",
    )
    # Through the SMTP door (WP Mail SMTP pointed at the bridge): no plugin context.
    wc_message(
        corpus,
        SITES["nl"],
        "new_order",
        WC_SUBJECTS["new_order"]["nl"],
        N,
        context=SMTP,
        name="wc-smtp-new-order-nl",
        note="WooCommerce new_order through the SMTP door, no context: link into wp-admin",
    )
    wc_message(
        corpus,
        SITES["it"],
        "customer_processing_order",
        WC_SUBJECTS["customer_processing_order"]["it"],
        T,
        context=SMTP,
        name="wc-smtp-processing-it",
        note="WooCommerce receipt through the SMTP door, no context: no bulk marks",
    )
    wc_message(
        corpus,
        SITES["es"],
        "customer_completed_order",
        WC_SUBJECTS["customer_completed_order"]["es"],
        T,
        context=SMTP,
        extra_headers=[("List-Unsubscribe", "<https://tiendasol.es/baja/?e=x>")],
        name="wc-smtp-list-unsubscribe-es",
        label=T,
        note="a receipt through the SMTP door with no context but a List-Unsubscribe header: "
        "the order with its totals outweighs a List-Unsubscribe (issue 16: weak bulk cues never "
        "outweigh strong transactional ones)",
    )
    # WooCommerce extensions: ids outside core.
    for email_id, category, lang, subject in (
        ("customer_renewal_invoice", T, "en", "Invoice for renewal order #{order} from {site}"),
        (
            "customer_completed_renewal_order",
            T,
            "de",
            "Deine Verlängerungsbestellung bei {site} ist abgeschlossen",
        ),
        ("new_renewal_order", N, "en", "[{site}] New subscription renewal order #{order}"),
        ("cancelled_subscription", N, "fr", "[{site}] Abonnement annulé"),
        ("new_booking", N, "en", "[{site}] New booking #{order}"),
        ("booking_confirmed", T, "es", "Tu reserva en {site} ha sido confirmada"),
        ("admin_booking_cancelled", N, "nl", "[{site}] Boeking geannuleerd"),
    ):
        wc_message(
            corpus,
            SITES[lang],
            email_id,
            subject,
            category,
            name=f"wc-ext-{email_id}-{lang}",
            context=wp_context(
                SITES[lang],
                "woocommerce-subscriptions"
                if "subscription" in email_id or "renewal" in email_id
                else "woocommerce-bookings",
                wc_email_id=email_id,
            ),
            note=f"WooCommerce extension email {email_id}: not a core id"
            + (
                "; customer_/admin_ prefix"
                if email_id.startswith(("customer_", "admin_"))
                else "; no prefix, so headers and links decide"
            ),
        )


# -- WordPress core ----------------------------------------------------------------------

# Subjects as WordPress's own translations (wordpress-l10n 6.1) have them; English where a
# language has none.
CORE_SUBJECTS = {
    "retrieve_password_notification_email": {
        "en": "[{site}] Password Reset",
        "de": "[{site}] Passwort zurücksetzen",
        "fr": "[{site}] Renouvellement du mot de passe",
        "es": "[{site}] Restablecer contraseña",
        "nl": "[{site}] Wachtwoord resetten",
        "it": "[{site}] Password azzerata",
        "pt": "[{site}] Redefinição de senha",
        "ja": "[{site}] パスワードのリセット",
    },
    "wp_new_user_notification_email": {"en": "[{site}] Login Details"},
    "wp_new_user_notification_email_admin": {
        "en": "[{site}] New User Registration",
        "de": "[{site}] Registrierung eines neuen Benutzers",
        "fr": "[{site}] Inscription d'un nouvel utilisateur",
        "es": "[{site}] Registro de nuevo usuario",
        "nl": "[{site}] Registratie nieuwe gebruiker",
        "it": "[{site}] Registrazione di un nuovo utente",
        "pt": "[{site}] Registro de novo usuário",
        "ja": "[{site}] 新規ユーザー登録",
    },
    "wp_password_change_notification_email": {"en": "[{site}] Password Changed"},
    "password_change_email": {"en": "[{site}] Password Changed"},
    "email_change_email": {"en": "[{site}] Email Changed"},
    "new_user_email_content": {"en": "[{site}] Email Change Request"},
    "user_request_action_email_content": {"en": "[{site}] Confirm Action: Export Personal Data"},
    "user_request_confirmed_email_content": {"en": "[{site}] Action Confirmed: Export Personal Data"},
    "wp_privacy_personal_data_email_content": {"en": "[{site}] Personal Data Export"},
    "user_erasure_fulfillment_email_content": {"en": "[{site}] Erasure Request Fulfilled"},
    "comment_moderation_text": {
        "en": '[{site}] Please moderate: "{post}"',
        "de": '[{site}] Bitte moderiere: "{post}"',
        "fr": "[{site}] Demande de modération pour « {post} »",
        "es": '[{site}] Pendientes de moderación: "{post}"',
        "nl": '[{site}] Modereer: "{post}"',
        "it": '[{site}] Applica la moderazione: "{post}"',
        "pt": '[{site}] Moderar: "{post}"',
        "ja": '[{site}] モデレートしてください: "{post}"',
    },
    "comment_notification_text": {
        "en": '[{site}] Comment: "{post}"',
        "de": '[{site}] Kommentar: "{post}"',
        "fr": "[{site}] Commentaire : « {post} »",
        "es": '[{site}] Comentario: "{post}"',
        "nl": '[{site}] Reactie: "{post}"',
        "it": '[{site}] Commento: "{post}"',
        "pt": '[{site}] Comentário: "{post}"',
        "ja": '[{site}] コメント: "{post}"',
    },
    "auto_core_update_email": {
        "en": "[{site}] Your site has updated to WordPress 6.1.9",
        "de": "[{site}] Deine Website wurde auf WordPress 6.1.9 aktualisiert",
        "es": "[{site}] Tu sitio ha sido actualizado a WordPress 6.1.9",
        "ja": "[{site}] WordPress 6.1.9 へのサイト更新が完了しました",
    },
    "auto_plugin_theme_update_email": {"en": "[{site}] Some plugins were automatically updated"},
    "recovery_mode_email": {"en": "[{site}] Your Site is Experiencing a Technical Issue"},
    "new_admin_email_content": {
        "en": "[{site}] New Admin Email Address",
        "de": "[{site}] Neue Admin E-Mail Adresse",
        "fr": "[{site}] Nouvelle adresse e-mail d'administration",
        "it": "[{site}] Nuovo indirizzo e-mail amministratore",
    },
    "site_admin_email_change_email": {"en": "[{site}] Admin Email Changed"},
}
POSTS = {
    "en": "Five trails for a rainy weekend",
    "de": "Unser neuer Röstkaffee aus Kolumbien",
    "fr": "Nos lampes préférées pour l'automne",
    "es": "Recetas con aceite de oliva",
    "nl": "Fietsonderhoud in de winter",
    "it": "Come usare il sapone all'olio",
    "pt": "Como preparar um café coado",
    "ja": "春の新作手ぬぐいのご紹介",
}


def core_body(kind: str, site: Site, user: tuple[str, str]) -> tuple[str, list[tuple[str, str]] | None]:
    """The text core writes for ``kind``, and a Reply-To where core sets one."""
    login = user[1].split("@")[0]
    url, key, ip = site.url, token(20), f"203.0.113.{rng.randint(2, 250)}"
    post = POSTS[site.key]
    cid = rng.randint(10, 900)
    bodies = {
        "retrieve_password_notification_email": (
            f"Someone has requested a password reset for the following account:\n\nSite Name: {site.name}\n\n"
            f"Username: {login}\n\nIf this was a mistake, ignore this email and nothing will happen.\n\nTo reset "
            f"your password, visit the following address:\n\n{url}/wp-login.php?action=rp&key={key}&login={login}"
            f"&wp_lang={site.lang}\n\nThis password reset request originated from the IP address {ip}.\n"
        ),
        "wp_new_user_notification_email": (
            f"Username: {login}\n\nTo set your password, visit the following address:\n\n{url}/wp-login.php?"
            f"action=rp&key={key}&login={login}\n\n{url}/wp-login.php\n"
        ),
        "wp_new_user_notification_email_admin": (
            f"New user registration on your site {site.name}:\n\nUsername: {login}\n\nEmail: {user[1]}\n"
        ),
        "wp_password_change_notification_email": (
            f"Password changed for user: {login}\n"
        ),
        "password_change_email": (
            f"Hi {login},\n\nThis notice confirms that your password was changed on {site.name}.\n\nIf you did not "
            f"change your password, please contact the Site Administrator at\n{site.admin}\n\nThis email has been "
            f"sent to {user[1]}\n\nRegards,\nAll at {site.name}\n{url}\n"
        ),
        "email_change_email": (
            f"Hi {login},\n\nThis notice confirms that your email address on {site.name} was changed to "
            f"new.{user[1]}.\n\nIf you did not change your email, please contact the Site Administrator at\n"
            f"{site.admin}\n\nThis email has been sent to {user[1]}\n\nRegards,\nAll at {site.name}\n{url}\n"
        ),
        "new_user_email_content": (
            f"Howdy {login},\n\nYou recently requested to have the email address on your account changed.\n\nIf "
            f"this is correct, please click on the following link to change it:\n{url}/wp-admin/profile.php?"
            f"newuseremail={key}\n\nYou can safely ignore and delete this email if you do not want to\ntake this "
            f"action.\n\nThis email has been sent to {user[1]}\n\nRegards,\nAll at {site.name}\n{url}\n"
        ),
        "user_request_action_email_content": (
            f"Howdy,\n\nA request has been made to perform the following action on your account:\n\n     Export "
            f"Personal Data\n\nTo confirm this, please click on the following link:\n{url}/wp-login.php?action="
            f"confirmaction&request_id={cid}&confirm_key={key}\n\nYou can safely ignore and delete this email if "
            f"you do not want to\ntake this action.\n\nRegards,\nAll at {site.name}\n{url}\n"
        ),
        "user_request_confirmed_email_content": (
            f"Howdy,\n\nA user data privacy request has been confirmed on {site.name}:\n\nUser: {user[1]}\n"
            f"Request: Export Personal Data\n\nYou can view and manage these data privacy requests here:\n\n"
            f"{url}/wp-admin/export-personal-data.php\n\nRegards,\nAll at {site.name}\n{url}\n"
        ),
        "wp_privacy_personal_data_email_content": (
            f"Howdy,\n\nYour request for an export of personal data has been completed. You may download your "
            f"personal data by clicking on the link below. For privacy and security, we will automatically delete "
            f"the file on {_date()[5:16]}, so please download it before then.\n\n{url}/wp-content/uploads/"
            f"wp-personal-data-exports/wp-personal-data-file-{key}.zip\n\nRegards,\nAll at {site.name}\n{url}\n"
        ),
        "user_erasure_fulfillment_email_content": (
            f"Howdy,\n\nYour request to erase your personal data on {site.name} has been completed.\n\nIf you have "
            f"any follow-up questions or concerns, please contact the site administrator.\n\nFor more information, "
            f"you can also read our privacy policy: {url}/privacy-policy/\n\nRegards,\nAll at {site.name}\n{url}\n"
        ),
        "comment_moderation_text": (
            f'A new comment on the post "{post}" is waiting for your approval\n{url}/?p={cid}\n\nAuthor: '
            f"{user[0]} (IP address: {ip}, {ip})\nEmail: {user[1]}\nURL: \nComment: \nGreat article, thanks!\n\n"
            f"Approve it: {url}/wp-admin/comment.php?action=approve&c={cid}#wpbody-content\nTrash it: {url}/"
            f"wp-admin/comment.php?action=trash&c={cid}#wpbody-content\nSpam it: {url}/wp-admin/comment.php?"
            f"action=spam&c={cid}#wpbody-content\nCurrently 1 comment is waiting for approval. Please visit the "
            f"moderation panel:\n{url}/wp-admin/edit-comments.php?comment_status=moderated#wpbody-content\n"
        ),
        "comment_notification_text": (
            f'New comment on your post "{post}"\nAuthor: {user[0]} (IP address: {ip}, {ip})\nEmail: {user[1]}\n'
            f"URL: \nComment: \nLovely, I tried it yesterday.\n\nYou can see all comments on this post here:\n"
            f"{url}/?p={cid}#comments\n\nPermalink: {url}/?p={cid}#comment-{cid + 3}\nTrash it: {url}/wp-admin/"
            f"comment.php?action=trash&c={cid + 3}#wpbody-content\nSpam it: {url}/wp-admin/comment.php?action=spam"
            f"&c={cid + 3}#wpbody-content\n"
        ),
        "auto_core_update_email": (
            f"Howdy! Your site at {url} has been updated automatically to WordPress 6.1.9.\n\nNo further action is "
            f"needed on your part. For more on version 6.1.9, see the About WordPress screen:\n{url}/wp-admin/"
            f"about.php\n\nIf you experience any issues or need support, the volunteers in the WordPress.org "
            f"support forums may be able to help.\nhttps://wordpress.org/support/forums/\n\nThe WordPress Team\n"
        ),
        "auto_plugin_theme_update_email": (
            f"Howdy! Some plugins have automatically updated to their latest versions on your site at {url}. No "
            f"further action is needed on your part.\n\nThese plugins are now up to date:\n- WooCommerce (from "
            f"version 8.9.1 to 8.9.3)\n\nTo manage plugins on your site, visit the Plugins page: {url}/wp-admin/"
            f"plugins.php\n\nIf you experience any issues or need support, the volunteers in the WordPress.org "
            f"support forums may be able to help.\nhttps://wordpress.org/support/forums/\n\nThe WordPress Team\n"
        ),
        "recovery_mode_email": (
            f"Howdy!\n\nSince WordPress 5.2 there is a built-in feature that detects when a plugin or theme causes "
            f"a fatal error on your site, and notifies you with this automated email.\nIn this case, WordPress "
            f"caught an error with one of your plugins, Slider Deluxe.\n\nFirst, visit your website ({url}/) and "
            f"check for any visible issues. Next, visit the page where the error was caught ({url}/wp-admin/"
            f"edit.php) and check for any visible issues.\n\nIf your site appears broken and you cannot access your "
            f'dashboard normally, WordPress now has a special "recovery mode". This lets you safely login to '
            f"your dashboard and investigate further.\n\n{url}/wp-login.php?action=enter_recovery_mode&rm_token="
            f"{key}&rm_key={token(12)}\n\nTo keep your site safe, this link will expire in 1 day. Don't worry "
            f"about that, though: a new link will be emailed to you if the error occurs again after it expires.\n"
        ),
        "new_admin_email_content": (
            f"Howdy admin,\n\nSomeone with administrator capabilities recently requested to have the "
            f"administration email address changed on this site:\n{url}\n\nTo confirm this change, please click "
            f"on the following link:\n{url}/wp-admin/options.php?adminhash={key}\n\nYou can safely ignore and "
            f"delete this email if you do not want to\ntake this action.\n\nThis email has been sent to "
            f"{site.admin}\n\nRegards,\nAll at {site.name}\n{url}\n"
        ),
        "site_admin_email_change_email": (
            f"Hi,\n\nThis notice confirms that the admin email address was changed on {site.name}.\n\nThe new "
            f"admin email address is new-{site.admin}.\n\nThis email has been sent to {site.admin}\n\nRegards,\n"
            f"All at {site.name}\n{url}\n"
        ),
    }
    reply_to = (user[1], user[1]) if kind == "comment_notification_text" else None
    return bodies[kind], reply_to


CORE_CATEGORY = {
    "retrieve_password_notification_email": T,
    "wp_new_user_notification_email": T,
    "wp_new_user_notification_email_admin": N,
    "wp_password_change_notification_email": N,
    "password_change_email": T,
    "email_change_email": T,
    "new_user_email_content": T,
    "user_request_action_email_content": T,
    "user_request_confirmed_email_content": N,
    "wp_privacy_personal_data_email_content": T,
    "user_erasure_fulfillment_email_content": T,
    "comment_moderation_text": N,
    "comment_notification_text": N,
    "auto_core_update_email": N,
    "auto_plugin_theme_update_email": N,
    "recovery_mode_email": N,
    "new_admin_email_content": N,
    "site_admin_email_change_email": N,
}
TO_ADMIN = {k for k, v in CORE_CATEGORY.items() if v == N} - {"comment_notification_text"}


def core_message(
    corpus: Corpus, kind: str, lang: str, with_kind: bool, admin: str | None = None, note: str = ""
) -> None:
    site = SITES[lang]
    user = site.customer()
    subjects = CORE_SUBJECTS[kind]
    subject = subjects.get(lang, subjects["en"]).format(site=site.name, post=POSTS[lang])
    body, reply_to = core_body(kind, site, user)
    if kind in TO_ADMIN:
        to = [("", admin or site.admin)]
    elif kind == "comment_notification_text":
        to = [("", f"editor@{site.domain}" if lang != "fr" else "camille.redaction@gmail.com")]
    else:
        to = [("", user[1])]
    sender = (
        (user[0], f"wordpress@{site.domain}")
        if kind == "comment_notification_text"
        else ("WordPress", f"wordpress@{site.domain}")
    )
    context = wp_context(site, wp_mail_kind=kind) if with_kind else wp_context(site)
    raw = message(context=context, sender=sender, to=to, subject=subject, text=body, reply_to=reply_to)
    how = (
        "context wp_mail_kind (as the plugin could send it)"
        if with_kind
        else "no kind in context: links, recipients or subject decide"
    )
    corpus.add(
        f"core-{kind}-{lang}{'-kind' if with_kind else ''}",
        CORE_CATEGORY[kind],
        note or f"WordPress core mail ({kind}), {lang}; {how}",
        raw,
    )


def wordpress_core(corpus: Corpus) -> None:
    kinds = list(CORE_CATEGORY)
    for i, kind in enumerate(kinds):
        for j in range(3):
            lang = LANGS[(i * 2 + j) % len(LANGS)]
            core_message(corpus, kind, lang, with_kind=(j == 0))
    # Admins on a mail provider's domain: nothing but the subject (or the plugin's kind) tells
    # these notices from account mail.
    core_message(
        corpus,
        "wp_new_user_notification_email_admin",
        "de",
        False,
        admin="brandt.roesterei@gmail.com",
        note="new-user notice to an admin on gmail.com, no kind: only the subject (weak) says admin notice",
    )
    core_message(
        corpus,
        "wp_new_user_notification_email_admin",
        "ja",
        False,
        admin="sakura.tenchou@gmail.com",
        note="new-user notice in Japanese to an admin on gmail.com, no kind: the subject (weak) decides",
    )
    core_message(
        corpus,
        "wp_password_change_notification_email",
        "en",
        False,
        admin="harbor.owner@gmail.com",
        note="password-changed notice to an admin on gmail.com, no kind: its subject is the same as the "
        "user's own notice, nothing tells them apart; labelled by what it is",
    )
    core_message(
        corpus,
        "wp_password_change_notification_email",
        "en",
        True,
        admin="harbor.owner@gmail.com",
        note="the same notice with the plugin's wp_mail_kind: context decides",
    )


# -- Newsletter plugins ------------------------------------------------------------------

NEWSLETTER_SUBJECTS = {
    "en": [
        "Spring collection: 20% off this weekend",
        "Your order of adventure is waiting",
        "Trail notes #14: rain gear tested",
        "Your order is ready — the new catalogue, that is",
        "Last chance: free shipping ends tonight",
    ],
    "de": [
        "Neu im Sortiment: Kolumbien Huila",
        "Deine Bestellung fürs Wochenende? 3 Röstungen im Test",
        "Röst-News März",
    ],
    "fr": [
        "Les nouveautés d'avril",
        "Votre commande de printemps vous attend 🌷",
        "Atelier bougies : inscriptions ouvertes",
    ],
    "es": ["Novedades de temporada", "Tu pedido favorito, ahora con 15 % de descuento", "Boletín de mayo"],
    "nl": [
        "Nieuwsbrief april: de nieuwe e-bikes",
        "Je bestelling voor de zomer? Onderhoudsbeurt met korting",
    ],
    "it": ["Novità di primavera in bottega", "Il tuo ordine ti aspetta: saldi di fine stagione"],
    "pt": ["Novidades da semana na Loja Aurora", "Seu pedido especial de Dia das Mães 💐"],
    "ja": ["春の新作のお知らせ", "ご注文はお済みですか？ 週末限定セール"],
}
ARTICLES = (
    "We spent the winter testing, tasting and tweaking. Here is what made the cut, what did not, and "
    "why we think you will like the new season's line-up. As always, every item ships from our own "
    "workshop and comes with free returns for thirty days."
)


def newsletter_html(
    site: Site, subject: str, links: list[str], unsubscribe: str, pixel: str | None, view_online: str | None
) -> str:
    blocks = ""
    for n, link in enumerate(links):
        blocks += (
            f'<tr><td class="mailpoet_text mailpoet_padded_vertical mailpoet_padded_side" valign="top" '
            f'style="padding-top:10px;padding-bottom:10px;padding-left:20px;padding-right:20px;word-break:'
            f'break-word;word-wrap:break-word"><h2 style="margin:0 0 6px;color:#222222;font-family:'
            f"'Trebuchet MS','Lucida Grande',sans-serif;font-size:24px;line-height:38.4px;margin-bottom:0;"
            f'text-align:left;padding:0;font-style:normal;font-weight:normal">{subject} — {n + 1}</h2><table '
            f'style="border-collapse:collapse;border-spacing:0;mso-table-lspace:0;mso-table-rspace:0" width='
            f'"100%" cellpadding="0"><tr><td class="mailpoet_paragraph" style="word-break:break-word;word-wrap:'
            f'break-word;text-align:left">{ARTICLES}<br></td></tr></table><table width="100%" cellpadding="0">'
            f'<tr><td class="mailpoet_button-container" style="text-align:center"><a class="mailpoet_button" '
            f'href="{link}" style="display:inline-block;-webkit-text-size-adjust:none;mso-hide:all;text-'
            f"decoration:none;text-align:center;background-color:#2ea1cd;border-color:#0074a2;border-width:1px;"
            f"border-radius:5px;border-style:solid;width:180px;line-height:40px;color:#ffffff;font-family:"
            f'Verdana,Geneva,sans-serif;font-size:18px;font-weight:normal">Read more</a></td></tr></table>'
            f"</td></tr>\n"
        )
    view = (
        (
            f'<tr><td class="mailpoet_header_footer_padded mailpoet_header" style="line-height:19.2px;color:'
            f'#222222;font-family:Verdana,Geneva,sans-serif;font-size:12px;text-align:center"><a href="{view_online}" '
            f'style="color:#6cb7d4;text-decoration:none">View this in your browser.</a></td></tr>\n'
        )
        if view_online
        else ""
    )
    tracker = f'<img alt="" class="" src="{pixel}" width="1" height="1"/>' if pixel else ""
    return (
        f'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/'
        f'xhtml1-transitional.dtd">\n<html lang="{site.lang.replace("_", "-")}" style="margin:0;padding:0">\n'
        f'<head><meta content="text/html; charset=utf-8" http-equiv="Content-Type"><meta content="width='
        f'device-width, initial-scale=1.0, maximum-scale=1.0" name="viewport"><meta content="IE=edge" '
        f'http-equiv="X-UA-Compatible"><title>{subject}</title><style type="text/css"> @media screen and '
        f"(max-width: 480px) {{ .mailpoet_button {{width:100% !important;}} }} @media screen and (max-width: "
        f"599px) {{ .mailpoet_header {{ padding: 10px 20px; }} .mailpoet_button {{ width: 100% !important; "
        f"padding: 5px 0 !important; box-sizing:border-box !important; }} div, .mailpoet_cols-two, "
        f'.mailpoet_cols-three {{ max-width: 100% !important; }} }}</style></head>\n<body leftmargin="0" '
        f'topmargin="0" marginwidth="0" marginheight="0" style="margin:0;padding:0;background-color:#eeeeee">'
        f'<table class="mailpoet_template" border="0" width="100%" cellpadding="0" cellspacing="0" style='
        f'"border-collapse:collapse;border-spacing:0;mso-table-lspace:0;mso-table-rspace:0">\n{view}'
        f'<tr><td align="center" class="mailpoet-wrapper" valign="top" style="border-collapse:collapse;'
        f'background-color:#eeeeee"><table class="mailpoet_content-wrapper" border="0" width="660" '
        f'cellpadding="0" cellspacing="0" style="border-collapse:collapse;background-color:#ffffff;border-'
        f'spacing:0;mso-table-lspace:0;mso-table-rspace:0;max-width:660px;width:100%">\n{blocks}'
        f'<tr><td class="mailpoet_header_footer_padded mailpoet_footer" style="line-height:19.2px;color:'
        f"#222222;font-family:Arial,'Helvetica Neue',Helvetica,sans-serif;font-size:12px;text-align:center\">"
        f'<a href="{unsubscribe}" style="color:#6cb7d4;text-decoration:none">Unsubscribe</a> | <a href="'
        f'{unsubscribe.replace("unsubscribe", "manage")}" style="color:#6cb7d4;text-decoration:none">Manage '
        f"your subscription</a><br>{site.name}, {site.domain}</td></tr>\n</table></td></tr></table>{tracker}"
        f"</body></html>\n"
    )


def mailpoet_link(site: Site, endpoint: str, action: str) -> str:
    return f"{site.url}/?mailpoet_router&amp;endpoint={endpoint}&amp;action={action}&amp;data={b64token()}"


def mailpoet(corpus: Corpus) -> None:
    n = 0
    for lang, subjects in NEWSLETTER_SUBJECTS.items():
        site = SITES[lang]
        for subject in subjects[:3]:
            n += 1
            name, email = site.customer()
            https = n % 5 != 0
            unsub = mailpoet_link(site, "subscription", "unsubscribe")
            one_click = mailpoet_link(site, "subscription", "unsubscribe")
            links = [mailpoet_link(site, "track", "click") for _ in range(3)]
            html = newsletter_html(
                site,
                subject,
                links,
                unsub,
                mailpoet_link(site, "track", "open"),
                mailpoet_link(site, "view_in_browser", "view"),
            )
            headers = [("List-Unsubscribe", f"<{one_click.replace('&amp;', '&')}>")]
            if https:
                headers.insert(0, ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
            else:
                headers = [
                    ("List-Unsubscribe", f"<{unsub.replace('&amp;', '&').replace('https:', 'http:')}>")
                ]
            kind = ["newsletter", "post notification", "welcome email", "WooCommerce automatic email"][n % 4]
            cte = "base64" if n % 3 == 0 else "quoted-printable"
            raw = message(
                context=SMTP,
                sender=(site.name, f"news@{site.domain}"),
                to=[(name, email)],
                subject=subject,
                html=html,
                text=f"{subject}\n\n{ARTICLES}\n\nUnsubscribe: {unsub}",
                cte=cte,
                headers=headers,
                reply_to=(site.name, f"news@{site.domain}"),
                domain=site.domain,
            )
            tricky = (
                "; subject mentions an order"
                if any(w in subject.lower() for w in ("order", "bestellung", "commande", "pedido", "ordine"))
                else ""
            )
            corpus.add(
                f"mailpoet-{kind.split()[0]}-{lang}",
                B,
                f"MailPoet {kind} via SMTP, {lang}: List-Unsubscribe"
                + ("" if https else " (http, no one-click)")
                + tricky,
                raw,
            )
    for lang in ("en", "de", "fr", "ja"):
        site = SITES[lang]
        name, email = site.customer()
        confirm = mailpoet_link(site, "subscription", "confirm")
        subject = {
            "en": "Confirm your subscription to {site}",
            "de": "Bestätige dein Abonnement bei {site}",
            "fr": "Confirmez votre abonnement à {site}",
            "ja": "{site} の購読を確認してください",
        }[lang].format(site=site.name)
        html = (
            f'<html><body style="font-family:Arial,sans-serif;background:#f4f4f4"><table width="100%"><tr><td '
            f'align="center"><table width="600" style="background:#ffffff;padding:30px"><tr><td><p>Hello,</p>'
            f"<p>Followed the link below to confirm your subscription to our newsletter. Thank you!</p><p><a "
            f'href="{confirm}" style="background:#2ea1cd;color:#ffffff;padding:10px 20px;border-radius:4px;'
            f'text-decoration:none">Click here to confirm your subscription.</a></p><p>{site.name}</p></td></tr>'
            f"</table></td></tr></table></body></html>"
        )
        raw = message(
            context=SMTP,
            sender=(site.name, f"news@{site.domain}"),
            to=[(name, email)],
            subject=subject,
            html=html,
            text=f"Confirm: {confirm.replace('&amp;', '&')}",
            cte="quoted-printable",
            reply_to=(site.name, f"news@{site.domain}"),
        )
        corpus.add(
            f"mailpoet-confirmation-{lang}",
            T,
            f"MailPoet double opt-in confirmation, {lang}: no list headers; confirmation link",
            raw,
        )
    for lang in ("en", "es"):
        site = SITES[lang]
        name, email = site.customer()
        html = (
            f"<html><body><p>Howdy,</p><p>The subscriber {email} has just subscribed to your list "
            f'"Newsletter mailing list"!</p><p>Cheers,</p><p>The MailPoet Plugin</p><p><small>You can disable '
            f'these emails in your <a href="{site.url}/wp-admin/admin.php?page=mailpoet-settings#basics">'
            f"MailPoet Settings.</a></small></p></body></html>"
        )
        raw = message(
            context=SMTP,
            sender=("MailPoet", f"wordpress@{site.domain}"),
            to=[("", site.admin)],
            subject="New subscriber to Newsletter mailing list",
            html=html,
            text=f"The subscriber {email} has just subscribed.",
        )
        corpus.add(
            f"mailpoet-new-subscriber-admin-{lang}",
            N,
            f"MailPoet new-subscriber notice to the admin, {lang}: link into wp-admin",
            raw,
        )
    # Older MailPoet over http, its List-Unsubscribe stripped by a relay in between: only the
    # tracking links are left.
    site = SITES["nl"]
    html = newsletter_html(
        site,
        "Nieuwsbrief mei",
        [mailpoet_link(site, "track", "click")],
        mailpoet_link(site, "subscription", "unsubscribe"),
        mailpoet_link(site, "track", "open"),
        None,
    )
    raw = message(
        context=SMTP,
        sender=(site.name, f"nieuws@{site.domain}"),
        to=[site.customer()],
        subject="Nieuwsbrief mei",
        html=html,
        cte="8bit",
    )
    corpus.add(
        "mailpoet-no-list-headers-nl",
        B,
        "MailPoet newsletter whose List-Unsubscribe was stripped: tracking links (heuristic)",
        raw,
    )


def tnp_link(site: Site, kind: str, user: int, email_id: int) -> str:
    nk = f"{user}-{token(10)}"
    if kind == "track":
        return f"{site.url}/?nltr={base64.b64encode(f'{email_id};{user};https://{site.domain}/shop/;;{token(32)}'.encode()).decode()}"
    if kind == "open":
        return f"{site.url}/?noti={base64.b64encode(f'{email_id};{user};{token(32)}'.encode()).decode()}"
    return f"{site.url}/?na={kind}&amp;nk={nk}&amp;nek={email_id}-"


def the_newsletter_plugin(corpus: Corpus) -> None:
    for i, lang in enumerate(LANGS):
        site = SITES[lang]
        for subject in NEWSLETTER_SUBJECTS[lang][-2:]:
            user, email_id = rng.randint(100, 90000), rng.randint(3, 80)
            name, email = site.customer()
            html = newsletter_html(
                site,
                subject,
                [tnp_link(site, "track", user, email_id) for _ in range(3)],
                tnp_link(site, "u", user, email_id),
                tnp_link(site, "open", user, email_id),
                tnp_link(site, "v", user, email_id),
            )
            headers = [
                ("Precedence", "bulk"),
                ("X-Newsletter-Email-Id", str(email_id)),
                ("X-Auto-Response-Suppress", "OOF, AutoReply"),
                ("List-Unsubscribe", f"<{site.url}/?na=ocu&nk={user}-{token(10)}&nek={email_id}->"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ]
            if i % 3 == 2:
                headers = headers[:3]  # "disable unsubscribe headers" option set
            via_smtp = i % 2 == 1
            raw = message(
                context=SMTP if via_smtp else wp_context(site, "newsletter"),
                sender=(site.name, f"newsletter@{site.domain}"),
                to=[(name, email)],
                subject=subject,
                html=html,
                text=f"{subject}\n\n{ARTICLES}",
                cte="quoted-printable",
                headers=headers,
                mailer="WPMailSMTP/Mailer/smtp 4.0.2" if via_smtp else MAILER,
            )
            corpus.add(
                f"tnp-newsletter-{lang}",
                B,
                f"The Newsletter Plugin newsletter, {lang}, via {'SMTP' if via_smtp else 'wp_mail'}: "
                "X-Newsletter-Email-Id, Precedence: bulk" + ("" if i % 3 != 2 else " (no List-Unsubscribe)"),
                raw,
            )
    for lang in ("en", "de", "it", "pt"):
        site = SITES[lang]
        user = rng.randint(100, 90000)
        name, email = site.customer()
        subject = {
            "en": "Please confirm your subscription",
            "de": "Bitte bestätige dein Abonnement",
            "it": "Conferma la tua iscrizione",
            "pt": "Confirme sua inscrição",
        }[lang]
        confirm = f"{site.url}/?na=c&amp;nk={user}-{token(10)}"
        html = (
            f"<p>Hi {name.split()[0]},</p><p>A newsletter subscription request for this email address was "
            f'received. Please confirm it by <a href="{confirm}"><strong>clicking here</strong></a>. If you '
            f"cannot click the link, use the following link:</p><p>{confirm}</p><p>If you did not make this "
            f"subscription request, just ignore this message.</p><p>Thank you!</p>"
        )
        raw = message(
            context=wp_context(site, "newsletter"),
            sender=(site.name, f"newsletter@{site.domain}"),
            to=[(name, email)],
            subject=subject,
            html=html,
            headers=[("X-Auto-Response-Suppress", "OOF, AutoReply")],
        )
        corpus.add(
            f"tnp-confirmation-{lang}",
            T,
            f"The Newsletter Plugin subscription confirmation, {lang}: no list headers; confirmation link",
            raw,
        )
    for lang in ("fr", "nl"):
        site = SITES[lang]
        user = rng.randint(100, 90000)
        name, email = site.customer()
        html = (
            f"<p>Welcome aboard, {name.split()[0]}!</p><p>From now on you'll get our news twice a month.</p>"
            f'<p>To change your subscription, <a href="{site.url}/?na=p&amp;nk={user}-{token(10)}">click here'
            f'</a>. To cancel it, <a href="{site.url}/?na=u&amp;nk={user}-{token(10)}">click here</a>.</p>'
        )
        raw = message(
            context=wp_context(site, "newsletter"),
            sender=(site.name, f"newsletter@{site.domain}"),
            to=[(name, email)],
            subject="Welcome aboard" if lang == "fr" else "Welkom!",
            html=html,
            headers=[("X-Auto-Response-Suppress", "OOF, AutoReply")],
        )
        corpus.add(
            f"tnp-welcome-{lang}",
            B,
            f"The Newsletter Plugin welcome message, {lang}: no list headers, but the newsletter's "
            "unsubscribe link (heuristic)",
            raw,
        )
    site = SITES["es"]
    name, email = site.customer()
    raw = message(
        context=wp_context(site, "newsletter"),
        sender=(site.name, f"wordpress@{site.domain}"),
        to=[("", site.admin)],
        subject=f"[{site.name}] Nueva suscripción",
        html=f'<p>{name} ({email}) se ha suscrito.</p><p><a href="{site.url}/wp-admin/admin.php?page='
        f'newsletter_users_edit&amp;id={rng.randint(10, 900)}">Ver suscriptor</a></p>',
    )
    corpus.add(
        "tnp-admin-notice-es",
        N,
        "The Newsletter Plugin new-subscriber notice to the admin: link into wp-admin",
        raw,
    )


def mailster(corpus: Corpus) -> None:
    mid = token(32)
    for i, lang in enumerate(["en", "de", "fr", "es", "it", "pt", "en", "ja"]):
        site = SITES[lang]
        name, email = site.customer()
        hash_, campaign = hashlib.md5(email.encode()).hexdigest(), rng.randint(20, 400)
        autoresponder = i % 4 == 3
        subject = (
            NEWSLETTER_SUBJECTS[lang][0]
            if not autoresponder
            else {
                "es": "¡Bienvenida! Aquí tienes tu cupón",
                "ja": "ご登録ありがとうございます：クーポンのお届け",
            }.get(lang, "Welcome!")
        )
        unsub = f"{site.url}/newsletter-signup/unsubscribe/{hash_}/{campaign}"
        links = [f"{site.url}/mailster/{campaign}/{hash_}/{token(12)}/{n}" for n in range(3)]
        html = newsletter_html(
            site, subject, links, unsub, f"{site.url}/mailster/{campaign}/{hash_}/?t={_clock[0]}", None
        )
        headers = [
            ("X-Mailster", hash_),
            ("X-Mailster-Campaign", str(campaign)),
            ("X-Mailster-ID", mid),
            (
                "List-Unsubscribe",
                f"<{unsub}>,<mailto:bounce@{site.domain}?subject=Please%20remove%20me%20from%20the%20list>",
            ),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("List-ID", f"<{hash_}-{campaign}>"),
        ]
        if not autoresponder:
            headers.append(("Precedence", "bulk"))
        headers.append(("X-Message-ID", f"<{token(13)}-{hash_}-{campaign}|0-{mid}@{site.domain}>"))
        raw = message(
            context=SMTP,
            sender=(site.name, f"news@{site.domain}"),
            to=[(name, email)],
            subject=subject,
            html=html,
            text=f"{subject}\n\n{ARTICLES}",
            cte="quoted-printable",
            headers=headers,
            mailer="Mailster 4.0.9 (4.0.9)",
        )
        corpus.add(
            f"mailster-{'autoresponder' if autoresponder else 'campaign'}-{lang}",
            B,
            f"Mailster {'autoresponder' if autoresponder else 'campaign'}, {lang}: X-Mailster-Campaign",
            raw,
        )
    for lang in ("en", "de", "nl"):
        site = SITES[lang]
        name, email = site.customer()
        hash_ = hashlib.md5(email.encode()).hexdigest()
        confirm = f"{site.url}/newsletter-signup/confirm/{hash_}/{token(8)}"
        unsub = f"{site.url}/newsletter-signup/unsubscribe/{hash_}"
        html = (
            f'<html><body><table width="100%"><tr><td><h1>{site.name}</h1><p>Please confirm your subscription '
            f'by clicking the button below.</p><p><a href="{confirm}" style="background:#2bb2e8;color:#ffffff;'
            f'padding:12px 24px">Confirm</a></p></td></tr></table></body></html>'
        )
        headers = [
            ("X-Mailster-ID", mid),
            ("X-Mailster", hash_),
            (
                "List-Unsubscribe",
                f"<mailto:bounce@{site.domain}?subject=Please%20remove%20me%20from%20the%20list>,<{unsub}>",
            ),
        ]
        subject = {"en": "Please confirm", "de": "Bitte bestätigen", "nl": "Bevestig je inschrijving"}[lang]
        raw = message(
            context=SMTP,
            sender=(site.name, f"news@{site.domain}"),
            to=[(name, email)],
            subject=subject,
            html=html,
            headers=headers,
            mailer="Mailster 4.0.9 (4.0.9)",
        )
        corpus.add(
            f"mailster-confirmation-{lang}",
            T,
            f"Mailster double opt-in confirmation, {lang}: X-Mailster without a campaign; Mailster also "
            "puts List-Unsubscribe on it, its own marks are more specific",
            raw,
        )
    for lang in ("en", "fr"):
        site = SITES[lang]
        name, email = site.customer()
        html = (
            f'<html><body><p>{name} ({email}) has joined your list Newsletter.</p><p><a href="{site.url}'
            f'/wp-admin/edit.php?post_type=newsletter&amp;page=mailster_subscribers">Subscribers</a></p>'
            f"</body></html>"
        )
        raw = message(
            context=SMTP,
            sender=(site.name, f"news@{site.domain}"),
            to=[("", site.admin)],
            subject="A new user has subscribed to your newsletter!"
            if lang == "en"
            else "Un nouvel abonné à votre newsletter !",
            html=html,
            headers=[("X-Mailster-ID", mid)],
            mailer="Mailster 4.0.9 (4.0.9)",
        )
        corpus.add(
            f"mailster-new-subscriber-admin-{lang}",
            N,
            f"Mailster new-subscriber notice to the admin, {lang}: only X-Mailster-ID",
            raw,
        )


# -- Contact forms -----------------------------------------------------------------------

FORM_TEXT = {
    "en": (
        "Question about sizing",
        "Hi, does the waxed jacket run large? I'm usually a medium. Thanks!",
        "Thank you for your message",
        "Thanks for getting in touch! We'll get back to you within one business day.",
    ),
    "de": (
        "Frage zur Mahlung",
        "Hallo, könnt ihr die Bohnen auch für die French Press mahlen? Danke!",
        "Danke für deine Nachricht",
        "Danke für deine Nachricht! Wir melden uns innerhalb eines Werktags.",
    ),
    "fr": (
        "Demande de devis",
        "Bonjour, je souhaiterais un devis pour dix lampes. Cordialement.",
        "Merci pour votre message",
        "Merci de nous avoir contactés, nous vous répondrons rapidement.",
    ),
    "es": (
        "Consulta sobre envío",
        "Hola, ¿hacéis envíos a Canarias? Gracias.",
        "Gracias por tu mensaje",
        "¡Gracias por escribirnos! Te responderemos en 24 horas.",
    ),
    "nl": (
        "Reparatie aanvragen",
        "Hallo, mijn achterrem piept. Kan ik volgende week langskomen?",
        "Bedankt voor je bericht",
        "Bedankt! We nemen binnen een werkdag contact met je op.",
    ),
    "it": (
        "Informazioni sui prodotti",
        "Buongiorno, i saponi sono adatti alla pelle sensibile?",
        "Grazie per il tuo messaggio",
        "Grazie per averci scritto, ti risponderemo al più presto.",
    ),
    "pt": (
        "Dúvida sobre o pedido",
        "Olá, vocês entregam em Curitiba? Obrigada.",
        "Obrigado pela mensagem",
        "Recebemos sua mensagem e responderemos em breve.",
    ),
    "ja": (
        "商品についての質問",
        "手ぬぐいの在庫はありますか？よろしくお願いします。",
        "お問い合わせありがとうございます",
        "お問い合わせを受け付けました。2営業日以内にご返信いたします。",
    ),
}


def forms(corpus: Corpus) -> None:
    for i, lang in enumerate(LANGS):
        site = SITES[lang]
        name, email = site.customer()
        subject, text, ack_subject, ack = FORM_TEXT[lang]
        via_smtp = i in (2, 5)
        context = SMTP if via_smtp else wp_context(site, "contact-form-7")
        how = (
            "no context (SMTP door): Reply-To from outside the site"
            if via_smtp
            else "context plugin contact-form-7"
        )
        # Contact Form 7 "Mail": to the site, Reply-To the visitor.
        body = (
            f"From: {name} <{email}>\nSubject: {subject}\n\nMessage Body:\n{text}\n\n-- \nThis e-mail was sent "
            f"from a contact form on {site.name} ({site.url})\n"
        )
        raw = message(
            context=context,
            sender=(site.name, f"wordpress@{site.domain}"),
            to=[("", site.admin)],
            subject=f'{site.name} "{subject}"',
            text=body,
            reply_to=(name, email),
        )
        corpus.add(f"cf7-mail-{lang}", N, f"Contact Form 7 submission to the site, {lang}; {how}", raw)
        if not via_smtp:
            # Mail (2): the auto-reply to the visitor.
            raw = message(
                context=context,
                sender=(site.name, f"wordpress@{site.domain}"),
                to=[(name, email)],
                subject=f'{site.name} "{ack_subject}"',
                text=f"{ack}\n\n-- \n{site.name}\n{site.url}\n",
                reply_to=("", site.admin),
            )
            corpus.add(
                f"cf7-autoreply-{lang}",
                N,
                f"Contact Form 7 auto-reply (Mail 2) to the visitor, {lang}; context plugin contact-form-7 "
                "(form mail is notification)",
                raw,
            )
    # An old Contact Form 7 that left its X-WPCF7-Content-Type marker in, through the SMTP door.
    site = SITES["en"]
    name, email = site.customer()
    raw = message(
        context=SMTP,
        sender=(site.name, f"wordpress@{site.domain}"),
        to=[("", "harbor.owner@gmail.com")],
        subject=f'{site.name} "Wholesale enquiry"',
        headers=[("X-WPCF7-Content-Type", "text/plain")],
        text=f"From: {name} <{email}>\nSubject: Wholesale enquiry\n\nMessage Body:\nDo you sell wholesale?\n",
        reply_to=(name, email),
    )
    corpus.add(
        "cf7-old-marker-smtp-en",
        N,
        "Contact Form 7 (old, X-WPCF7-Content-Type kept) through the SMTP door: Reply-To from outside",
        raw,
    )

    for i, lang in enumerate(["en", "de", "fr", "es", "nl", "pt"]):
        site = SITES[lang]
        name, email = site.customer()
        subject, text, ack_subject, ack = FORM_TEXT[lang]
        plugin = "wpforms-lite" if i % 2 else "wpforms"
        rows = "".join(
            f'<tr><td style="padding:15px 30px;border-bottom:1px solid #dddddd"><strong>{k}</strong><br>'
            f"{v}</td></tr>"
            for k, v in (("Name", name), ("Email", email), ("Comment or Message", text))
        )
        html = (
            f'<!doctype html><html><head><meta charset="UTF-8"></head><body style="background-color:#e9eaec">'
            f'<table border="0" cellpadding="0" cellspacing="0" width="100%" height="100%" class="body"><tr><td '
            f'align="center" valign="top" class="body-inner wpforms"><div class="wrapper" width="100%" style='
            f'"max-width:600px"><table class="container"><tr><td class="header" align="center" valign="middle">'
            f'<img src="{site.url}/wp-content/uploads/wpforms/email-logo.png" width="250" alt="{site.name}"></td>'
            f'</tr><tr><td class="content"><table width="100%">{rows}</table></td></tr><tr><td class="footer" '
            f'align="center" valign="top">Sent from <a href="{site.url}/">{site.name}</a></td></tr></table></div>'
            f"</td></tr></table></body></html>"
        )
        raw = message(
            context=wp_context(site, plugin),
            sender=(site.name, site.admin),
            to=[("", site.admin)],
            subject="New Entry: Contact Form",
            html=html,
            reply_to=(name, email),
        )
        corpus.add(
            f"wpforms-entry-{lang}", N, f"WPForms entry notification, {lang}; context plugin {plugin}", raw
        )
        if i < 3:
            raw = message(
                context=wp_context(site, plugin),
                sender=(site.name, site.admin),
                to=[(name, email)],
                subject=ack_subject,
                html=f"<p>{ack}</p><p>{site.name}</p>",
            )
            corpus.add(
                f"wpforms-confirmation-{lang}",
                N,
                f"WPForms confirmation to the visitor, {lang}; context plugin {plugin} (form mail)",
                raw,
            )

    for i, lang in enumerate(["en", "de", "it", "ja", "es"]):
        site = SITES[lang]
        name, email = site.customer()
        subject, text, ack_subject, ack = FORM_TEXT[lang]
        rows = "".join(
            f'<tr bgcolor="#EAF2FA"><td colspan="2"><font style="font-family:sans-serif;font-size:12px">'
            f'<strong>{k}</strong></font></td></tr><tr bgcolor="#FFFFFF"><td width="20">&nbsp;</td><td>'
            f'<font style="font-family:sans-serif;font-size:12px">{v}</font></td></tr>'
            for k, v in (("Name", name), ("Email", email), ("Message", text))
        )
        html = (
            f'<html><body><table width="99%" border="0" cellpadding="1" cellspacing="0" bgcolor="#EAEAEA"><tr>'
            f'<td><table width="100%" border="0" cellpadding="5" cellspacing="0" bgcolor="#FFFFFF">{rows}</table>'
            f"</td></tr></table></body></html>"
        )
        via_smtp = i == 4
        raw = message(
            context=SMTP if via_smtp else wp_context(site, "gravityforms"),
            sender=("", site.admin),
            to=[("", site.admin)],
            subject="New submission from Contact Us",
            html=html,
        )
        corpus.add(
            f"gravityforms-admin-{lang}",
            N,
            f"Gravity Forms admin notification, {lang}; "
            + (
                "no context (SMTP door): the site writing to its own address"
                if via_smtp
                else "context plugin gravityforms"
            ),
            raw,
        )
        if i < 2:
            raw = message(
                context=wp_context(site, "gravityforms"),
                sender=(site.name, site.admin),
                to=[(name, email)],
                subject=ack_subject,
                html=f"<p>{ack}</p>",
            )
            corpus.add(
                f"gravityforms-user-{lang}",
                N,
                f"Gravity Forms notification to the visitor, {lang}; context plugin gravityforms",
                raw,
            )


# -- Membership and LMS ------------------------------------------------------------------


def membership(corpus: Corpus) -> None:
    site = Site(
        "Northwind Yoga",
        "northwindyoga.com",
        "en",
        "studio@northwindyoga.com",
        "account",
        [("Maya Lind", "maya.lind@gmail.com"), ("Tom Becker", "tom.becker@icloud.com")],
    )
    site_de = Site(
        "Yogahaus Köln",
        "yogahaus-koeln.de",
        "de",
        "team@yogahaus-koeln.de",
        "konto",
        [("Sabine Kurz", "sabine.kurz@web.de")],
    )
    for s in (site, site_de):
        for kind, subject in (
            ("welcome", "Welcome to {site}!" if s.lang == "en" else "Willkommen bei {site}!"),
            ("receipt", "Payment Receipt — {site}" if s.lang == "en" else "Zahlungsbeleg — {site}"),
            ("renewal", "Your subscription has renewed" if s.lang == "en" else "Dein Abo wurde verlängert"),
        ):
            name, email = s.customer()
            html = (
                f'<div id="body" style="width:600px;background:white;padding:40px;margin:0 auto"><p>Hi '
                f"{name.split()[0]},</p><p>{'Thanks for joining' if kind == 'welcome' else 'Thanks for your payment'}"
                f" — membership: Unlimited Monthly, amount $59.00, invoice #mp-{token(6)}.</p><p>You can manage "
                f'your account here: <a href="{s.url}/{s.account_slug}/">{s.url}/{s.account_slug}/</a></p>'
                f"<p>{s.name}</p></div>"
            )
            raw = message(
                context=wp_context(s, "memberpress"),
                sender=(s.name, s.admin),
                to=[(name, email)],
                subject=subject.format(site=s.name),
                html=html,
            )
            corpus.add(
                f"memberpress-{kind}-{s.lang}",
                T,
                f"MemberPress {kind} to a member, {s.lang}; context plugin memberpress (account mail)",
                raw,
            )
        name, email = s.customer()
        raw = message(
            context=wp_context(s, "memberpress"),
            sender=(s.name, s.admin),
            to=[("", s.admin)],
            subject=f"** New Signup: {name}" if s.lang == "en" else f"** Neue Anmeldung: {name}",
            html=f"<p>A new user just joined {s.name}!</p><p>Name: {name}<br>Email: {email}<br>Membership: "
            f"Unlimited Monthly</p>",
        )
        corpus.add(
            f"memberpress-admin-signup-{s.lang}",
            N,
            f"MemberPress new-signup notice to the admin, {s.lang}: sent to its own From address",
            raw,
        )

    pmpro = Site(
        "Garden Club Online",
        "gardenclub.org",
        "en",
        "admin@gardenclub.org",
        "membership-account",
        [("Ruth Elliott", "ruth.elliott@aol.com"), ("Ken Wu", "kenwu@proton.me")],
    )
    for template, subject, to_admin in (
        ("checkout_paid", "Your membership confirmation for {site}", False),
        ("invoice", "Invoice for {site} membership", False),
        ("membership_expiring", "Your membership at {site} will end soon", False),
        ("billing_failure", "Membership payment failed at {site}", False),
        ("checkout_paid_admin", "Member checkout for Gold at {site}", True),
        ("cancel_admin", "Membership for Ruth Elliott at {site} has been CANCELLED", True),
    ):
        name, email = pmpro.customer()
        html = (
            f"<p>{'There was a new member checkout' if to_admin else 'Thank you for your membership'} at "
            f"{pmpro.name}.</p><p>Account: {name} ({email})</p><p>Membership Level: Gold</p><p>Order #"
            f"{token(10).upper()} on {_date()[5:16]}<br />Total Billed: $45.00</p><p>Log in to your "
            f"{'WordPress admin' if to_admin else 'membership account'} here: {pmpro.url}/wp-login.php</p>"
        )
        raw = message(
            context=wp_context(pmpro, "paid-memberships-pro"),
            sender=(pmpro.name, f"wordpress@{pmpro.domain}"),
            to=[("", pmpro.admin)] if to_admin else [(name, email)],
            subject=subject.format(site=pmpro.name),
            html=html,
        )
        corpus.add(
            f"pmpro-{template}",
            N if to_admin else T,
            f"Paid Memberships Pro {template}; context plugin paid-memberships-pro"
            + (": to the admin, in the site's domain" if to_admin else " (account mail)"),
            raw,
        )
    name, email = pmpro.customer()
    raw = message(
        context=wp_context(pmpro, "paid-memberships-pro"),
        sender=(pmpro.name, f"wordpress@{pmpro.domain}"),
        to=[("", "gardenclub.treasurer@gmail.com")],
        subject=f"Member checkout for Silver at {pmpro.name}",
        html=f"<p>There was a new member checkout at {pmpro.name}.</p><p>Account: {name} ({email})</p>"
        f"<p>Log in to your WordPress admin here: {pmpro.url}/wp-login.php</p>",
    )
    corpus.add(
        "pmpro-checkout_paid_admin-gmail",
        N,
        "Paid Memberships Pro admin checkout notice to a treasurer on gmail.com: nothing but its words "
        "says it is for staff (hard case)",
        raw,
    )

    lms = Site(
        "CodeCamp Academy",
        "codecamp.academy",
        "en",
        "hello@codecamp.academy",
        "my-courses",
        [("Noah Kim", "noah.kim@gmail.com"), ("Elif Şahin", "elif.sahin@outlook.com")],
    )
    for slug, subject, text in (
        ("sfwd-lms", "You have been enrolled in Python Basics", "You now have access to Python Basics."),
        ("sfwd-lms", "Congratulations! You completed Python Basics", "Your certificate is ready."),
        ("sfwd-lms", "Quiz passed: Loops and Lists", "You scored 92%."),
        ("lifterlms", "Welcome to CodeCamp Academy", "Your student account is ready."),
        ("tutor", "Your course order is complete", "Order #TC-1182 — Web Design 101."),
    ):
        name, email = lms.customer()
        html = (
            f'<p>Hi {name.split()[0]},</p><p>{text}</p><p><a href="{lms.url}/courses/python-basics/">Go to '
            f"the course</a></p><p>— {lms.name}</p>"
        )
        raw = message(
            context=wp_context(lms, slug),
            sender=(lms.name, lms.admin),
            to=[(name, email)],
            subject=subject,
            html=html,
        )
        corpus.add(
            f"lms-{slug}-{token(4)}", T, f"LMS mail to a student; context plugin {slug} (account mail)", raw
        )
    name, email = lms.customer()
    raw = message(
        context=wp_context(lms, "sfwd-lms"),
        sender=(lms.name, lms.admin),
        to=[("", lms.admin)],
        subject="New course purchase: Python Basics",
        html=f'<p>{name} ({email}) purchased Python Basics.</p><p><a href="{lms.url}/wp-admin/user-edit.php'
        f'?user_id=214">View user</a></p>',
    )
    corpus.add("lms-sfwd-lms-admin", N, "LearnDash purchase notice to the admin: link into wp-admin", raw)


# -- Security plugins --------------------------------------------------------------------


def security(corpus: Corpus) -> None:
    for i, lang in enumerate(["en", "de", "fr", "es", "nl", "it", "pt", "ja"]):
        site = SITES[lang]
        kind = [
            "User locked out from signing in",
            "Wordfence found 2 issues",
            "Admin login",
            "Plugin update needed",
        ][i % 4]
        body = (
            f'This email was sent from your website "{site.name}" by the Wordfence plugin at {_date()}\n\n'
            f"The Wordfence administrative URL for this site is: {site.url}/wp-admin/admin.php?page=Wordfence\n\n"
            f"Alert generated: {kind}. IP: 198.51.100.{rng.randint(2, 250)}\n\n"
            f"--\nTo change your alert options for Wordfence, visit:\n{site.url}/wp-admin/admin.php?page="
            f"Wordfence&subpage=global_options\n\nTo see current Wordfence alerts, visit:\n{site.url}/wp-admin/"
            f"admin.php?page=Wordfence\n\nNo longer an administrator for this site? Click here to stop receiving "
            f"security alerts: {site.url}/?_wfsf=removeAlertEmail&jwt={b64token(40)}\n"
        )
        via_smtp = i % 3 == 2
        raw = message(
            context=SMTP if via_smtp else wp_context(site, "wordfence"),
            sender=("", f"wordpress@{site.domain}"),
            to=[("", site.admin)],
            subject=f"[Wordfence Alert] {site.domain} {kind}",
            text=body,
        )
        corpus.add(
            f"wordfence-{lang}",
            N,
            f"Wordfence alert, {lang}; "
            + ("no context (SMTP door): links into wp-admin" if via_smtp else "context plugin wordfence"),
            raw,
        )
    for i, lang in enumerate(["en", "de", "es", "en", "pt"]):
        site = SITES[lang]
        kind = [
            "File Change Warning",
            "Site Lockout Notification",
            "Security Digest",
            "Site Scan Results",
            "New Login Location",
        ][i]
        html = (
            f'<table width="100%" style="background:#f0f0f0"><tr><td align="center"><table width="600" style='
            f'"background:#ffffff"><tr><td style="padding:20px"><h1 style="font-size:20px">{kind}</h1><p>Solid '
            f'Security detected activity on {site.url}.</p><p><a href="{site.url}/wp-admin/admin.php?page=itsec-'
            f'logs" style="background:#6817c5;color:#fff;padding:10px 16px;text-decoration:none">View Security '
            f'Logs</a></p><p style="font-size:12px;color:#777">This email was generated by Solid Security. '
            f'<a href="{site.url}/wp-admin/admin.php?page=itsec&module=notification-center">Manage notifications'
            f"</a></p></td></tr></table></td></tr></table>"
        )
        raw = message(
            context=wp_context(site, "better-wp-security"),
            sender=(site.name, f"wordpress@{site.domain}"),
            to=[("", site.admin)],
            subject=f"[{site.domain}] {kind}",
            html=html,
        )
        corpus.add(
            f"solid-security-{lang}",
            N,
            f"Solid Security {kind}, {lang}; context plugin better-wp-security",
            raw,
        )


# -- Other hard cases --------------------------------------------------------------------


def others(corpus: Corpus) -> None:
    site = SITES["en"]
    members = [f"member{n:03d}@{rng.choice(['gmail.com', 'yahoo.com', 'outlook.com'])}" for n in range(45)]
    raw = message(
        context=SMTP,
        sender=("Harbor Paddling Club", f"club@{site.domain}"),
        to=[("", f"club@{site.domain}")],
        bcc=members,
        subject="Saturday paddle moved to 9am",
        text="Hi all,\n\nSaturday's paddle starts at 9am at the north dock.\n\nSee you there!\n",
    )
    corpus.add(
        "bcc-blast-45-en",
        B,
        "one message to 46 recipients (45 in Bcc), no list headers: recipient count",
        raw,
    )
    raw = message(
        context=SMTP,
        sender=(site.name, f"hello@{site.domain}"),
        to=[site.customer()],
        subject="Your order",
        headers=[("Feedback-ID", "spring24:newsletter:harbor:esp")],
        html=f'<p>Our spring catalogue is here.</p><p><a href="{site.url}/catalogue">Browse</a></p>',
    )
    corpus.add(
        "feedback-id-en", B, "marketing mail with a Feedback-ID header and the subject 'Your order'", raw
    )
    raw = message(
        context=wp_context(site, "fluent-crm"),
        sender=(site.name, f"hello@{site.domain}"),
        to=[site.customer()],
        subject="We miss you — here's 10% off",
        headers=[("X-Campaign-Id", "winback-2024-05")],
        html=f"<p>It's been a while!</p><p><a href=\"{site.url}/shop/?utm_source=crm&amp;utm_medium=email"
        f'&amp;utm_campaign=winback">Shop now</a></p>',
    )
    corpus.add("x-campaign-id-en", B, "CRM campaign with X-Campaign-Id from an unknown plugin", raw)
    raw = message(
        context=wp_context(site, "custom-events"),
        sender=(site.name, f"events@{site.domain}"),
        to=[site.customer()],
        subject="Spring sale starts now!",
        html=f'<p>Everything 20% off.</p><p><a href="{site.url}/sale/?utm_source=site&amp;utm_medium=email'
        f'&amp;utm_campaign=spring">Shop the sale</a></p>',
    )
    corpus.add(
        "utm-campaign-en",
        B,
        "promotion from a custom plugin, no list headers: utm_ campaign links (heuristic)",
        raw,
    )
    de = SITES["de"]
    raw = message(
        context=wp_context(de, "booking-calendar"),
        sender=(de.name, f"termine@{de.domain}"),
        to=[de.customer()],
        subject="Erinnerung: Dein Röstkurs am Samstag",
        headers=[("Auto-Submitted", "auto-generated")],
        html=f'<p>Dein Kurs beginnt am Samstag um 10 Uhr.</p><p>Keine Erinnerungen mehr? <a href="'
        f'{de.url}/termine/unsubscribe/?k={token()}">Abmelden</a></p>',
    )
    corpus.add(
        "auto-submitted-reminder-de",
        T,
        "booking reminder with Auto-Submitted: auto-generated and a reminder opt-out link: explicitly not "
        "a mailing, for the customer",
        raw,
    )
    ja = SITES["ja"]
    raw = message(
        context=SMTP,
        sender=(ja.name, f"info@{ja.domain}"),
        to=[ja.customer()],
        subject="ご予約の確認",
        text="ご予約を承りました。\n\n日時：5月18日 14:00\n\nさくら雑貨店",
        cte="base64",
    )
    corpus.add("plain-booking-ja", T, "booking confirmation in Japanese, base64 body, no marks: default", raw)
    raw = message(
        context=SMTP,
        sender=("WordPress", f"wordpress@{site.domain}"),
        to=[("", "ops@harboroutfitters.com")],
        cc=[("", "owner@harboroutfitters.com")],
        subject="[Harbor Outfitters] Backup complete",
        text="UpdraftPlus backup finished: 3 archives, 412 MB.\n",
    )
    corpus.add(
        "backup-report-cc-en", N, "backup report to two staff addresses in the site's domain, no context", raw
    )
    raw = message(
        context=wp_context(site, "updraftplus"),
        sender=("WordPress", f"wordpress@{site.domain}"),
        to=[("", "harbor.owner@gmail.com")],
        subject="Backed up: Harbor Outfitters (UpdraftPlus 1.24.1)",
        text="Backup of: https://harboroutfitters.com\nUpdraftPlus WordPress backup is complete.\n",
    )
    corpus.add("updraftplus-report-en", N, "UpdraftPlus backup report; context plugin updraftplus", raw)


# -- issue 16: strong transactional cues against weak bulk cues ---------------------------

def utm_footer(site: Site, campaign: str) -> str:
    q = f"utm_source=woocommerce&amp;utm_medium=email&amp;utm_campaign={campaign}"
    return (f'<p style="margin:0 0 16px"><a href="https://instagram.com/{site.domain.split(".")[0]}?{q}">'
            f'Instagram</a> · <a href="{site.url}/blog/?{q}">Blog</a> · <a href="{site.url}/shop/?{q}">'
            f"Shop</a></p>")


SUMMARY = {
    "en": ("Your weekly store summary", "Here is how {site} did last week", "Net sales", "Orders",
           "View the full report"),
    "de": ("Deine wöchentliche Shop-Zusammenfassung", "So lief {site} letzte Woche", "Nettoumsatz",
           "Bestellungen", "Vollständigen Bericht ansehen"),
    "fr": ("Votre résumé hebdomadaire", "Voici les résultats de {site} la semaine dernière",
           "Ventes nettes", "Commandes", "Voir le rapport complet"),
    "es": ("Tu resumen semanal de la tienda", "Así le fue a {site} la semana pasada", "Ventas netas",
           "Pedidos", "Ver el informe completo"),
    "nl": ("Je wekelijkse winkeloverzicht", "Zo deed {site} het vorige week", "Netto-omzet",
           "Bestellingen", "Bekijk het volledige rapport"),
    "it": ("Il riepilogo settimanale del negozio", "Ecco come è andato {site} la settimana scorsa",
           "Vendite nette", "Ordini", "Vedi il rapporto completo"),
    "pt": ("Seu resumo semanal da loja", "Veja como {site} foi na semana passada", "Vendas líquidas",
           "Pedidos", "Ver o relatório completo"),
    "ja": ("ストアの週間サマリー", "先週の{site}の実績", "純売上", "注文", "レポート全体を見る"),
}
EDD = {
    "en": ("Purchase Receipt", "Dear {first},", "Thank you for your purchase. Please click on the link(s) "
           "below to download your files.", "Payment ID", "Subtotal", "Total"),
    "de": ("Kaufbeleg", "Hallo {first},", "vielen Dank für deinen Einkauf. Über die Links unten kannst du "
           "deine Dateien herunterladen.", "Zahlungs-ID", "Zwischensumme", "Gesamt"),
    "fr": ("Reçu d'achat", "Bonjour {first},", "Merci pour votre achat. Cliquez sur les liens ci-dessous "
           "pour télécharger vos fichiers.", "Paiement n°", "Sous-total", "Total"),
    "es": ("Recibo de compra", "Hola {first}:", "Gracias por tu compra. Haz clic en los enlaces de abajo "
           "para descargar tus archivos.", "ID de pago", "Subtotal", "Total"),
}
ACCOUNT_MAIL = {
    "en": ("Your account at {site}", "Hi {first}, an account has been created for you. Set your password "
           "here:", "Set your password"),
    "de": ("Dein Konto bei {site}", "Hallo {first}, für dich wurde ein Konto angelegt. Lege hier dein "
           "Passwort fest:", "Passwort festlegen"),
    "it": ("Il tuo account su {site}", "Ciao {first}, abbiamo creato un account per te. Imposta la tua "
           "password qui:", "Imposta la password"),
}
PROMO = {
    "en": ("Flash sale: 25% off all jackets this weekend", "Our flash sale starts now: 25% off every jacket "
           "until Sunday. Use coupon FLASH25 at checkout."),
    "fr": ("Soldes : -30 % sur les lampes", "Les soldes commencent : 30 % de réduction sur toutes les "
           "lampes jusqu'à dimanche."),
    "nl": ("Voorjaarsactie: 20% korting op sloten", "Alleen deze week 20% korting op alle fietssloten. "
           "Bekijk de aanbiedingen in de winkel."),
}


def weighed_evidence(corpus: Corpus) -> None:
    """Messages whose weak bulk cues (utm_ links, a mailto List-Unsubscribe, marketing words)
    must lose against strong transactional ones, and mailings that must stay bulk; most
    come through the SMTP door, so no plugin context helps (issue 16)."""
    for lang in LANGS:
        site = SITES[lang]
        code = "pt-BR" if lang == "pt" else lang
        wc_message(corpus, site, "customer_processing_order", WC_SUBJECTS["customer_processing_order"][lang],
                   T, context=SMTP, footer=utm_footer(site, "order_receipt"), cte="8bit",
                   name=f"wc-smtp-utm-receipt-{code}",
                   note="WooCommerce receipt through the SMTP door with utm_ links in its footer: the "
                        "order with its totals outweighs the utm_ links")
    for lang in LANGS:
        site = SITES[lang]
        code = "pt-BR" if lang == "pt" else lang
        wc_message(corpus, site, "customer_completed_order", WC_SUBJECTS["customer_completed_order"][lang],
                   T, context=SMTP, footer=utm_footer(site, "order_complete"),
                   extra_headers=[("List-Unsubscribe", f"<mailto:unsubscribe@{site.domain}>")],
                   name=f"wc-smtp-mailto-unsubscribe-{code}",
                   note="completed-order mail through the SMTP door with a mailto-only List-Unsubscribe "
                        "(added by a relay) and utm_ links: the order outweighs both")
    for lang in LANGS:
        site = SITES[lang]
        code = "pt-BR" if lang == "pt" else lang
        title, intro, sales, orders, more = SUMMARY[lang]
        q = "utm_source=wc-admin&amp;utm_medium=email&amp;utm_campaign=weekly_summary"
        html = (f"<h1>{title}</h1><p>{intro.format(site=site.name)}</p><table><tr><td>{sales}</td>"
                f"<td>{PRODUCTS[lang][0][1]}</td></tr><tr><td>{orders}</td><td>{rng.randint(5, 90)}</td></tr>"
                f'</table><p><a href="{site.url}/wp-admin/admin.php?page=wc-admin&amp;path=/analytics/'
                f'overview&amp;{q}">{more}</a></p><p><a href="https://woocommerce.com/mobile/?{q}">'
                f"WooCommerce app</a></p>")
        raw = message(context=SMTP, sender=(site.name, f"wordpress@{site.domain}"), to=[("", site.admin)],
                      subject=f"[{site.name}] {title}", html=html)
        corpus.add(f"wc-weekly-summary-{code}", N, "weekly store summary to the shop's admin with utm_ "
                   "links: a link into wp-admin says it is for the staff; utm_ alone is weak", raw)
    for lang, (title, hello, thanks, pid, sub, total) in EDD.items():
        site = SITES[lang]
        name, email = site.customer()
        first = name.split()[0]
        price = PRODUCTS[lang][0][1]
        q = "utm_source=edd&amp;utm_medium=email&amp;utm_campaign=receipt"
        html = (f"<p>{hello.format(first=first)}</p><p>{thanks}</p><ul><li><a href=\"{site.url}/index.php?"
                f"eddfile={rng.randint(100, 999)}%3A{rng.randint(10, 99)}%3A1%3A1&amp;ttl={rng.randint(10**9, 2 * 10**9)}"
                f"&amp;token={token(32)}\">{PRODUCTS[lang][0][0]}</a></li></ul><p>{pid}: {rng.randint(1000, 9999)}"
                f"</p><p>{sub}: {price}<br>{total}: {price}</p><p><a href=\"{site.url}/?{q}\">{site.name}</a></p>")
        raw = message(context=SMTP, sender=(site.name, f"shop@{site.domain}"), to=[(name, email)],
                      subject=f"{title} — {site.name}", html=html)
        corpus.add(f"edd-smtp-receipt-{lang}", T, "Easy Digital Downloads purchase receipt through the SMTP "
                   "door, utm_ link in the footer: payment id with totals outweighs it", raw)
    for lang in ("en", "de"):
        site = SITES[lang]
        name, email = site.customer()
        title, hello, thanks, pid, sub, total = EDD[lang]
        html = (f"<p>{hello.format(first=name.split()[0])}</p><p>{thanks}</p><p>{pid}: {rng.randint(1000, 9999)}"
                f"</p><p>{total}: {PRODUCTS[lang][1][1]}</p>")
        raw = message(context=wp_context(site, "easy-digital-downloads"), sender=(site.name, f"shop@{site.domain}"),
                      to=[(name, email)], subject=f"{title} — {site.name}", html=html,
                      headers=[("List-Unsubscribe", f"<mailto:unsubscribe@{site.domain}>")])
        corpus.add(f"edd-receipt-mailto-unsubscribe-{lang}", T, "EDD receipt with context and a mailto "
                   "List-Unsubscribe: the plugin's context decides", raw)
    for lang, (word, amount) in (("en", ("Invoice", "$19.00")), ("es", ("Factura", "19,00 €")),
                                 ("fr", ("Facture", "19,00 €"))):
        site = SITES[lang]
        name, email = site.customer()
        html = (f"<h2>{word}: mp-txn-{rng.randint(10000, 99999)}</h2><table><tr><td>Premium</td><td>{amount}"
                f"</td></tr><tr><td>Total</td><td>{amount}</td></tr></table><p><a href=\"{site.url}/account/?"
                f"action=payments&amp;utm_source=memberpress&amp;utm_medium=email&amp;utm_campaign=receipt\">"
                f"{site.url}/account/</a></p>")
        raw = message(context=SMTP, sender=(site.name, f"members@{site.domain}"), to=[(name, email)],
                      subject=f"{word} — {site.name}", html=html)
        corpus.add(f"memberpress-smtp-receipt-{lang}", T, "MemberPress payment receipt through the SMTP door "
                   "with utm_ links: the invoice with its total outweighs them", raw)
    for lang in ("en", "de"):
        site = SITES[lang]
        name, email = site.customer()
        html = (f"<p>New signup: {name} ({email})</p><p>Membership: Premium, {PRODUCTS[lang][0][1]}</p>"
                f"<p><a href=\"{site.url}/wp-admin/admin.php?page=memberpress-members\">Members</a></p>")
        raw = message(context=SMTP, sender=(site.name, f"members@{site.domain}"), to=[("", site.admin)],
                      subject=f"[{site.name}] New Signup", html=html)
        corpus.add(f"memberpress-smtp-admin-signup-{lang}", N, "MemberPress new-signup notice to the admin "
                   "through the SMTP door: link into wp-admin", raw)
    for lang in ("en", "de", "es"):
        site = SITES[lang]
        name, email = site.customer()
        words = {"en": "You have been enrolled in the course. Log in to your account to start:",
                 "de": "Du bist jetzt in den Kurs eingeschrieben. Melde dich in deinem Konto an:",
                 "es": "Te has inscrito en el curso. Accede a tu cuenta para empezar:"}[lang]
        html = (f"<p>{name.split()[0]},</p><p>{words}</p><p><a href=\"{site.url}/courses/{token(8)}/?"
                f"utm_source=learndash&amp;utm_medium=email&amp;utm_campaign=enrollment\">{site.url}/courses/</a>"
                f"</p><p><a href=\"{site.url}/wp-login.php?action=lostpassword\">Password</a></p>")
        raw = message(context=SMTP, sender=(site.name, f"academy@{site.domain}"), to=[(name, email)],
                      subject={"en": "Course enrollment", "de": "Kurs-Anmeldung", "es": "Inscripción al curso"}[lang],
                      html=html)
        corpus.add(f"lms-smtp-enrollment-{lang}", T, "LearnDash enrollment mail through the SMTP door with a "
                   "utm_ link: account mail to one learner", raw)
    for lang in ("en", "fr", "nl"):
        site = SITES[lang]
        visitor = (f"Visitor {lang.upper()}", f"visitor.{lang}@example.net")
        html = (f"<p><strong>Name</strong>: {visitor[0]}</p><p><strong>Email</strong>: {visitor[1]}</p>"
                f"<p><strong>Message</strong>: Do you ship to Canada?</p><p>Powered by <a href=\"https://www."
                f"gravityforms.com/?utm_source=notification&amp;utm_medium=email&amp;utm_campaign=poweredby\">"
                f"Gravity Forms</a></p>")
        raw = message(context=SMTP, sender=(site.name, f"wordpress@{site.domain}"), to=[("", site.admin)],
                      reply_to=visitor, subject=f"New submission from Contact", html=html)
        corpus.add(f"gravityforms-smtp-admin-{lang}", N, "Gravity Forms admin notification through the SMTP "
                   "door with a utm_ 'powered by' link: a visitor's message relayed to the site", raw)
    for lang in ("de", "es", "it"):
        site = SITES[lang]
        visitor = (f"Besucher {lang}", f"besucher.{lang}@example.org")
        raw = message(context=SMTP, sender=(site.name, f"wordpress@{site.domain}"), to=[("", site.admin)],
                      reply_to=visitor, subject=f"{site.name} \"Kontakt\"",
                      text=f"Von: {visitor[0]} <{visitor[1]}>\nBetreff: Frage\n\nNachricht:\nHallo!\n\n--\n"
                           f"Diese E-Mail wurde von einem Kontaktformular auf {site.name} ({site.url}) gesendet")
        corpus.add(f"cf7-smtp-admin-{lang}", N, "Contact Form 7 mail to the site through the SMTP door: a "
                   "visitor's message relayed to the site", raw)
    for lang in ("en", "de", "fr"):
        site = SITES[lang]
        subject = NEWSLETTER_SUBJECTS[lang][0]
        links = [mailpoet_link(site, "track", "click"), mailpoet_link(site, "track", "click")]
        html = newsletter_html(site, subject, links, mailpoet_link(site, "subscription", "unsubscribe"),
                               mailpoet_link(site, "track", "open"), None)
        html = html.replace("Read more", f"{PRODUCTS[lang][0][0]} {PRODUCTS[lang][0][1]}")
        raw = message(context=SMTP, sender=(site.name, f"news@{site.domain}"), to=[site.customer()],
                      subject=subject, html=html,
                      headers=[("List-Unsubscribe", f"<{mailpoet_link(site, 'subscription', 'unsubscribe')}>")])
        corpus.add(f"mailpoet-smtp-promo-prices-{lang}", B, "MailPoet product newsletter with prices through "
                   "the SMTP door: tracking links and List-Unsubscribe; prices are no order", raw)
    for lang in ("en", "it"):
        site = SITES[lang]
        subject = NEWSLETTER_SUBJECTS[lang][1]
        user, email_id = rng.randint(10, 999), rng.randint(1, 99)
        html = (f"<h1>{subject}</h1><p>{ARTICLES}</p><p><a href=\"{tnp_link(site, 'track', user, email_id)}\">"
                f"Shop</a></p><p><a href=\"{tnp_link(site, 'unsubscribe', user, email_id)}\">Unsubscribe</a></p>")
        raw = message(context=SMTP, sender=(site.name, f"news@{site.domain}"), to=[site.customer()],
                      subject=subject, html=html)
        corpus.add(f"tnp-smtp-newsletter-{lang}", B, "The Newsletter Plugin newsletter through the SMTP door "
                   "without its headers: its tracking and unsubscribe links", raw)
    for lang in ("en", "de", "es", "ja"):
        site = SITES[lang]
        subject = NEWSLETTER_SUBJECTS[lang][0] if lang in NEWSLETTER_SUBJECTS else "News"
        hash_ = token(24)
        unsub = f"{site.url}/?fluentcrm=1&amp;route=unsubscribe&amp;ce_id={rng.randint(100, 9999)}&amp;hash={hash_}"
        html = (f"<h1>{subject}</h1><p>{ARTICLES}</p><p><a href=\"{site.url}/?fluentcrm=1&amp;route=bnu&amp;"
                f"ns={rng.randint(10, 99)}&amp;hash={hash_}&amp;utm_source=fluentcrm&amp;utm_medium=email&amp;"
                f"utm_campaign=spring\">Shop</a></p><p><a href=\"{unsub}\">Unsubscribe</a></p>")
        raw = message(context=SMTP, sender=(site.name, f"news@{site.domain}"), to=[site.customer()],
                      subject=subject, html=html,
                      headers=[("List-Unsubscribe", f"<{unsub.replace('&amp;', '&')}>"),
                               ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")])
        corpus.add(f"fluentcrm-campaign-{lang}", B, "FluentCRM campaign: one-click List-Unsubscribe, its "
                   "tracking and unsubscribe links", raw)
    for lang in ("en", "fr"):
        site = SITES[lang]
        confirm = f"{site.url}/?fluentcrm=1&amp;route=confirmation&amp;s_id={rng.randint(10, 9999)}&amp;hash={token(24)}"
        html = (f"<p>{'Please confirm your subscription' if lang == 'en' else 'Merci de confirmer votre inscription'}"
                f"</p><p><a href=\"{confirm}\">{'Yes, subscribe me' if lang == 'en' else 'Oui, je confirme'}</a></p>")
        raw = message(context=SMTP, sender=(site.name, f"news@{site.domain}"), to=[site.customer()],
                      subject="Please confirm your subscription" if lang == "en" else "Confirmez votre inscription",
                      html=html, headers=[("List-Unsubscribe", f"<mailto:unsubscribe@{site.domain}>")])
        corpus.add(f"fluentcrm-double-optin-{lang}", T, "FluentCRM double opt-in: the confirmation link "
                   "outweighs a List-Unsubscribe", raw)
    for lang, (subject, text) in PROMO.items():
        site = SITES[lang]
        q = "utm_source=shop&amp;utm_medium=email&amp;utm_campaign=flash"
        html = (f"<h1>{subject}</h1><p>{text}</p><p><a href=\"{site.url}/shop/?{q}\">Shop</a></p>"
                f"<p><a href=\"{site.url}/newsletter/unsubscribe/?e={token(12)}\">Unsubscribe</a></p>")
        raw = message(context=SMTP, sender=(site.name, f"hello@{site.domain}"), to=[site.customer()],
                      subject=subject, html=html)
        corpus.add(f"promo-smtp-{lang}", B, "a shop's promotion through the SMTP door without list headers: "
                   "utm_ links, an unsubscribe link and marketing words, nothing transactional", raw)
    for lang, (subject, text, button) in ACCOUNT_MAIL.items():
        site = SITES[lang]
        name, email = site.customer()
        login = email.split("@")[0]
        html = (f"<p>{text.format(first=name.split()[0])}</p><p><a href=\"{site.url}/wp-login.php?action=rp&amp;"
                f"key={token()}&amp;login={login}\">{button}</a></p><p><a href=\"{site.url}/?utm_source=account"
                f"&amp;utm_medium=email&amp;utm_campaign=welcome\">{site.name}</a></p>")
        raw = message(context=SMTP, sender=(site.name, f"shop@{site.domain}"), to=[(name, email)],
                      subject=subject.format(site=site.name), html=html)
        corpus.add(f"core-smtp-new-account-utm-{lang}", T, "new account mail with a set-password link and a "
                   "utm_ link through the SMTP door: the password link decides", raw)


def main(out: Path = HERE) -> None:
    """Write out/messages/*.eml and out/labels.csv (``out`` is this directory unless a test
    asks for another)."""
    (out / "messages").mkdir(parents=True, exist_ok=True)
    for old in (out / "messages").glob("*.eml"):
        old.unlink()
    corpus = Corpus(out)
    for part in (
        woocommerce,
        wordpress_core,
        mailpoet,
        the_newsletter_plugin,
        mailster,
        forms,
        membership,
        security,
        others,
        weighed_evidence,
    ):
        part(corpus)
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["file", "category", "note"])
        writer.writerows(corpus.rows)
    counts = {c: sum(1 for r in corpus.rows if r[1] == c) for c in (T, N, B)}
    print(
        f"{len(corpus.rows)} messages in {out / 'messages'} "
        f"({', '.join(f'{v} {k}' for k, v in counts.items())})"
    )


if __name__ == "__main__":
    main()
