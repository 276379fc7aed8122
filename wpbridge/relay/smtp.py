"""SMTP relay: STARTTLS or implicit TLS, AUTH, connections reused across messages.

Certificates are verified by default (``tls_verify``; ``ca_file`` adds a private CA). Each
recipient's RCPT reply is kept, so one refused address does not fail the others.
"""

from __future__ import annotations

import dataclasses
import smtplib
import ssl

from wpbridge.relay import PERMANENT, TEMPORARY, Delivery, Reply
from wpbridge.relay.providers import ProviderConfig

# A connection is closed and opened anew after this many messages (providers cap it).
MESSAGES_PER_CONNECTION = 500


def tls_context(settings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class SMTPRelay:
    def __init__(self, provider: ProviderConfig, settings):
        self.provider = provider
        self.timeout = settings.smtp_timeout
        self.context = tls_context(settings) if provider.tls != "none" else None
        self.conn: smtplib.SMTP | None = None
        self.sent_on_conn = 0

    def _connect(self) -> smtplib.SMTP:
        p = self.provider
        if p.tls == "implicit":
            conn = smtplib.SMTP_SSL(p.host, p.port, local_hostname=p.helo, timeout=self.timeout,
                                    context=self.context)
        else:
            conn = smtplib.SMTP(p.host, p.port, local_hostname=p.helo, timeout=self.timeout)
        try:
            conn.ehlo()
            if p.tls == "starttls":
                conn.starttls(context=self.context)
                conn.ehlo()
            if p.username:
                conn.login(p.username, p.password or "")
        except BaseException:
            conn.close()
            raise
        self.sent_on_conn = 0
        return conn

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError):
                self.conn.close()
            self.conn = None

    def send(self, delivery: Delivery) -> dict[int, Reply]:
        """Send one transaction; a reused connection that turns out dead is replaced once."""
        if self.conn is not None and self.sent_on_conn >= MESSAGES_PER_CONNECTION:
            self.close()
        reused = self.conn is not None
        if not reused:
            try:
                self.conn = self._connect()
            except smtplib.SMTPResponseException as exc:
                # Refused greeting, STARTTLS or login: the bridge's or the provider's
                # trouble, not the recipient's. Retry later, keep the provider's words.
                text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
                    else str(exc.smtp_error)
                return self._all(delivery, Reply(TEMPORARY, exc.smtp_code,
                                                  f"{exc.smtp_code} {text} (while connecting to "
                                                  f"{self.provider.host})", "connect"))
            except (smtplib.SMTPException, OSError) as exc:
                return self._all(delivery, Reply.network(exc))
        try:
            return self._transaction(self.conn, delivery)
        except smtplib.SMTPServerDisconnected as exc:
            self.conn = None
            if reused and not getattr(exc, "after_data", False):
                return self.send(delivery)  # the provider had closed an idle connection
            return self._all(delivery, Reply.network(exc))
        except smtplib.SMTPResponseException as exc:
            self.close()
            return self._all(delivery, Reply.from_smtp(exc.smtp_code, exc.smtp_error))
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return self._all(delivery, Reply.network(exc))

    def _without_smtputf8(self, delivery: Delivery) -> dict[int, Reply]:
        """The recipients that cannot go to a server without SMTPUTF8, each with the reason."""
        if not delivery.mail_from.isascii():
            reply = _smtputf8_refusal(delivery.mail_from, self.provider.host)
            return {rid: reply for rid, _ in delivery.recipients}
        return {rid: _smtputf8_refusal(a, self.provider.host)
                for rid, a in delivery.recipients if not a.isascii()}

    @staticmethod
    def _all(delivery: Delivery, reply: Reply) -> dict[int, Reply]:
        return {rid: reply for rid, _ in delivery.recipients}

    def _transaction(self, conn: smtplib.SMTP, delivery: Delivery) -> dict[int, Reply]:
        options = []
        if _needs_smtputf8(delivery):
            if conn.has_extn("smtputf8"):
                options.append("SMTPUTF8")
            else:  # RFC 6531: such an address cannot be sent without it; never a crash
                refused = self._without_smtputf8(delivery)
                if len(refused) == len(delivery.recipients) or not delivery.mail_from.isascii():
                    return self._all(delivery, next(iter(refused.values())))
                rest = tuple((rid, a) for rid, a in delivery.recipients if rid not in refused)
                return {**refused,
                        **self._transaction(conn, dataclasses.replace(delivery, recipients=rest))}
        if conn.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        code, text = conn.mail(delivery.mail_from, options)
        if code != 250:
            conn.rset()
            return self._all(delivery, Reply.from_smtp(code, text, "MAIL FROM"))
        replies: dict[int, Reply] = {}
        accepted = []
        for rid, address in delivery.recipients:
            code, text = conn.rcpt(address)
            if code in (250, 251):
                accepted.append(rid)
            else:
                replies[rid] = Reply.from_smtp(code, text, "RCPT TO")
        if not accepted:
            conn.rset()
            return replies
        try:
            code, text = conn.data(delivery.raw)
        except smtplib.SMTPServerDisconnected as exc:
            exc.after_data = True  # the provider may have taken it: no silent resend here
            raise
        self.sent_on_conn += 1
        reply = Reply.from_smtp(code, text, "DATA")
        for rid in accepted:
            replies[rid] = reply
        return replies


def _smtputf8_refusal(address: str, host: str) -> Reply:
    return Reply(PERMANENT, None, f"{host} does not offer SMTPUTF8, which an internationalised "
                 f"address such as {address} needs (RFC 6531); send through a provider that "
                 "offers it, or use an ASCII address", "MAIL FROM")


def _needs_smtputf8(delivery: Delivery) -> bool:
    return not delivery.mail_from.isascii() or any(not a.isascii() for _, a in delivery.recipients)
