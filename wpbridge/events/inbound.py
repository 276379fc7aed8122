"""The bounce listener: an SMTP server (aiosmtpd) for the bounce domain's MX.

It takes mail only for valid VERP addresses (see :mod:`wpbridge.events.verp`), parses each
message as a bounce, complaint or auto-reply, and applies the site's policy; 250 only after
the events are committed. Parsing runs in worker processes (:class:`ParsePool`) and the
database work in threads, so one huge or slow report never holds the event loop that
serves every other client. Mail to a bulk message's mailto: unsubscribe address (see
:mod:`wpbridge.events.unsubscribe`) is an unsubscribe, whatever it says. It relays nothing
and needs no AUTH: it is a final destination.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ThreadPoolExecutor

from aiosmtpd.controller import Controller
from pebble import ProcessPool
from sqlalchemy import select

from wpbridge.events import RecipientResult
from wpbridge.events.bounces import BounceReport, ReportType, parse
from wpbridge.events.policy import Observed, Policy, apply
from wpbridge.events import unsubscribe, verp
from wpbridge.models import Recipient, utcnow

log = logging.getLogger("wpbridge.bounces")
MAX_BOUNCE_BYTES = 10 * 1024 * 1024
_SOURCE = {ReportType.DSN: "dsn", ReportType.ARF: "arf", ReportType.AUTOREPLY: "autoreply"}


class Busy(Exception):
    """Too many reports are waiting to be parsed; the sender should try again later."""


class ParsePool:
    """Bounce parsing in worker processes, off the listener's event loop.

    At most ``workers`` reports are parsed at once and ``4 * workers`` more wait (then
    :class:`Busy`). A report is parsed on its first ``head`` bytes: its human and
    machine-readable parts come before the returned original, which is what makes a bounce
    large. A parse still running after ``timeout`` seconds has its worker process killed
    (and replaced) and raises TimeoutError.
    """

    def __init__(self, workers: int, head: int, timeout: float):
        self.head, self.timeout, self.limit = head, timeout, 5 * workers
        self.pending = 0  # only touched on the event loop
        # spawn: the listener's process has threads; a fork could copy a held lock.
        self._pool = ProcessPool(max_workers=workers, context=multiprocessing.get_context("spawn"))

    async def parse(self, raw: bytes) -> BounceReport:
        """:raise Busy: the queue is full. :raise TimeoutError: over the time cap."""
        if self.pending >= self.limit:
            raise Busy
        self.pending += 1
        try:
            return await asyncio.wrap_future(
                self._pool.schedule(parse, (raw[:self.head],), timeout=self.timeout))
        finally:
            self.pending -= 1

    def close(self) -> None:
        self._pool.stop()
        self._pool.join()


class BounceHandler:
    def __init__(self, engine, settings, parser: ParsePool | None = None):
        self.engine, self.settings = engine, settings
        self.domains = frozenset(d.lower() for d in settings.bounce_domains)
        self.policy = Policy.from_settings(settings)
        self.parser = parser
        # The database work of the listener: a commit waits for the disk, not the loop.
        self._db = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bounce-db")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        unsubscribe_id = self._unsubscribe_id(address)
        if self._bounce_id(address) is None and unsubscribe_id is None:
            return "550 5.1.1 No such bounce address here"
        if unsubscribe_id is not None and not self._stored(unsubscribe_id):
            # Past log retention or erased: say so rather than accept and do nothing.
            return "550 5.1.1 This unsubscribe address has expired; use the unsubscribe link in the message"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or b""
        if len(raw) > MAX_BOUNCE_BYTES:
            return "552 5.3.4 Bounce too large"
        report = None
        try:
            if self.parser is not None and any(self._bounce_id(a) is not None for a in envelope.rcpt_tos):
                report = await self.parser.parse(raw)
            await asyncio.get_running_loop().run_in_executor(
                self._db, self.receive, envelope.rcpt_tos, raw, report)
        except Busy:
            return "451 4.3.2 Too many reports waiting to be read, try again later"
        except TimeoutError:
            log.warning("a report to %s took over %s s to read; refused, nothing recorded",
                        envelope.rcpt_tos, self.parser.timeout)
            return (f"554 5.6.0 This report could not be read within {self.parser.timeout:g} s; "
                    "nothing was recorded")
        except Exception:  # the one catch-all: the sender will retry, nothing is lost
            log.exception("could not record a bounce or unsubscribe")
            return "451 4.3.0 Could not record the message, try again later"
        if all(self._bounce_id(a) is None for a in envelope.rcpt_tos):
            return "250 2.0.0 Unsubscribe recorded"
        return "250 2.0.0 Bounce recorded"

    def _bounce_id(self, address: str) -> int | None:
        return verp.recipient_id(self.settings.secret_key, address, self.domains)

    def _unsubscribe_id(self, address: str) -> int | None:
        return unsubscribe.mailto_recipient(self.settings.secret_key, address, self.domains)

    def _stored(self, rid: int) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(Recipient.id).where(Recipient.id == rid)).first() is not None

    def receive(self, rcpt_tos: list[str], raw: bytes, report: BounceReport | None = None) -> list[str]:
        """Apply one inbound message, parsing it here (on its first bounce_parse_bytes)
        unless ``report`` is given; returns what was suppressed."""
        unsubscribes = {rid for rid in map(self._unsubscribe_id, rcpt_tos) if rid is not None}
        bounces = {rid for rid in map(self._bounce_id, rcpt_tos) if rid is not None}
        if bounces and report is None:
            report = parse(raw[:self.settings.bounce_parse_bytes])
        if report and report.type not in _SOURCE:
            log.info("message to %s is not a bounce (%s); ignored", rcpt_tos, report.type)
            bounces = set()
        r = Recipient.__table__.c
        now = utcnow()
        with self.engine.begin() as conn:
            rows = conn.execute(select(r.id, r.site_id, r.message_id, r.address)
                                .where(r.id.in_(unsubscribes | bounces))).all()
            done, observed = [], []
            for row in rows:
                if row.id in unsubscribes:  # mail to the mailto: target, as the one-click POST
                    unsubscribe.record(conn, row.site_id, row.address, row.message_id, now)
                    done.append(f"{row.address.lower()} bulk unsubscribe")
                if row.id not in bounces:
                    continue
                # The VERP address says whom the bounce is about; the report's own words say why.
                mine = [x for x in report.recipients if x.address in (None, row.address.lower())]
                result = (mine or list(report.recipients) or [None])[0]
                if result is None:
                    continue
                observed.append(Observed(row.site_id, RecipientResult(
                    row.address.lower(), result.status, result.group, result.reason, result.code,
                    result.diagnostic), _SOURCE[report.type], row.message_id,
                    raw[:400_000].decode("utf-8", "replace")[:100_000]))
            return done + apply(conn, observed, self.policy, now)

    def close(self) -> None:
        if self.parser is not None:
            self.parser.close()
        self._db.shutdown()


class _Listener(Controller):
    """The controller that also stops the handler's parse workers and threads."""

    def stop(self, *args, **kwargs) -> None:
        super().stop(*args, **kwargs)
        self.handler.close()


def start_listener(engine, settings, host: str, port: int) -> Controller:
    parser = ParsePool(settings.bounce_parse_workers, settings.bounce_parse_bytes,
                       settings.bounce_parse_timeout)
    controller = _Listener(BounceHandler(engine, settings, parser), hostname=host, port=port,
                           data_size_limit=MAX_BOUNCE_BYTES, server_hostname=settings.bounce_domains[0]
                           if settings.bounce_domains else None)
    controller.start()
    return controller
