"""The worker: claim due recipients, deliver them through their provider, record the replies.

Recipients of one message going through one provider travel in one SMTP transaction.
Transactions run on ``worker_connections`` threads, each keeping its own provider
connections open between batches. The one broad ``except`` sits around one delivery.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import insert, update
from sqlalchemy.exc import DBAPIError

from wpbridge import db, privacy, queue, suppressions
from wpbridge.auth import dns_store
from wpbridge.auth.dkim import Signer
from wpbridge.events import verp
from wpbridge.events.policy import Policy
from wpbridge.events.unsubscribe import mailto_address, make_token
from wpbridge.models import WorkerBeat, utcnow
from wpbridge.relay import TEMPORARY, Delivery, Reply, compliance, open_relay
from wpbridge.relay.providers import OUTBOX
from wpbridge.route import route_for
from wpbridge.shape import Job, shaper_for
from wpbridge.settings import Settings
from wpbridge.status import alerts

log = logging.getLogger("wpbridge.worker")


class Worker:
    def __init__(self, settings: Settings, engine=None, name: str | None = None):
        self.settings = settings
        self.engine = engine or db.make_engine(settings)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.policy = queue.RetryPolicy.from_settings(settings)
        self.events_policy = Policy.from_settings(settings)
        self.signer = Signer(self.engine, settings.secret_key)
        self.bulk_gate = dns_store.BulkGate(self.engine, settings)  # no DMARC: bulk mail held
        self.stopping = threading.Event()
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(max(1, settings.worker_connections),
                                       thread_name_prefix="relay")
        self._relays: list = []
        self._relays_lock = threading.Lock()

    def provider(self, name: str):
        """The provider for a queued row; None if this worker does not know it."""
        if not self.settings.providers:
            return OUTBOX
        return self.settings.providers.get(name)

    def _relay(self, provider_name: str):
        relays = getattr(self.local, "relays", None)
        if relays is None:
            relays = self.local.relays = {}
        if provider_name not in relays:
            relays[provider_name] = open_relay(self.provider(provider_name), self.settings)
            with self._relays_lock:
                self._relays.append(relays[provider_name])
        return relays[provider_name]

    def _deliver(self, provider_name: str, delivery: Delivery) -> tuple[dict[int, Reply], int]:
        started = time.monotonic()
        if self.provider(provider_name) is None:
            reply = Reply(TEMPORARY, None, f"provider {provider_name!r} is not configured on worker "
                          f"{self.name}; add it under [providers.{provider_name}]")
            return {rid: reply for rid, _ in delivery.recipients}, 0
        try:
            delivery = delivery.signed()  # the private-key work, here in a relay thread
            relay = self._relay(provider_name)
            per_connection = shaper_for(self).messages_per_connection(provider_name)
            if per_connection and getattr(relay, "sent_on_conn", 0) >= per_connection:
                relay.close()  # the provider's messages-per-connection limit: a new connection
            replies = relay.send(delivery)
        except Exception as exc:  # the one catch-all: a bug must not lose the batch
            log.exception("delivery of message %s failed unexpectedly", delivery.message_id)
            replies = {rid: Reply.network(exc) for rid, _ in delivery.recipients}
        return replies, int((time.monotonic() - started) * 1000)

    def run_once(self) -> int:
        """Claim one batch, shape it, deliver what may go now, record the outcome and put back
        what must wait (see wpbridge.shape). Returns how many were claimed."""
        now = utcnow()
        claimed = queue.claim(self.engine, self.name, self.settings.worker_batch,
                              self.settings.worker_lease, now, self.settings.worker_bulk_batch)
        shaper = shaper_for(self)

        def close_all(provider: str) -> None:  # between batches: no lane uses a relay
            with self._relays_lock:
                for relay in self._relays:
                    if getattr(getattr(relay, "provider", None), "name", None) == provider:
                        relay.close()

        if not claimed:
            shaper.idle(close_all)
            return 0
        messages = queue.messages_for(self.engine, {c.message_id for c in claimed})
        no_dmarc = self.bulk_gate.holds(messages.values(), now)  # message id -> (until, reason)
        with self.engine.connect() as conn:
            suppressed = suppressions.active(conn, {(c.site_id, c.address) for c in claimed}, now)
        outcomes: list[queue.Outcome] = []
        postponed: list[tuple] = []  # (claimed, until, reason): bulk mail held for DMARC
        # One SMTP transaction per message, provider and destination (limits and holds are
        # per destination); bulk mail that gets a one-click unsubscribe header of its own
        # goes one recipient at a time.
        groups: dict[tuple, list[queue.Claimed]] = defaultdict(list)
        routes = {}
        for c in claimed:
            m = messages[c.message_id]
            route = routes[c.message_id] = route_for(self.settings, m.site_name, m.category)
            reason = suppressions.blocks(suppressed.get((c.site_id, c.address.lower())), m.category)
            if reason:
                outcomes.append(queue.Outcome(c, m, Reply(queue.SUPPRESSED, None, f"suppressed: {reason}"), 0))
                continue
            if c.message_id in no_dmarc:
                postponed.append((c, *no_dmarc[c.message_id]))
                continue
            unsubscribe = m.category == "bulk" and compliance.needs_unsubscribe(m.raw)
            alone = unsubscribe or route.verp
            destination = shaper.config.destination(c.address)
            groups[(c.provider, c.message_id, c.id if alone else None, destination)].append(c)
        jobs = []
        for (provider_name, message_id, alone, destination), rows in groups.items():
            m, route = messages[message_id], routes[message_id]
            raw = m.raw
            if alone and m.category == "bulk" and compliance.needs_unsubscribe(raw):
                token = make_token(self.settings.secret_key, m.site_id, rows[0].address, m.id)
                raw = compliance.add_list_headers(raw, f"{self.settings.public_base}/u/{token}",
                                                  f"{m.category}.{m.site_name}",
                                                  mailto_address(self.settings, rows[0].id, route.return_path))
            mail_from = (verp.address(self.settings.secret_key, alone, route.return_path)
                         if route.verp else route.envelope_sender(m.mail_from))
            delivery = Delivery(m.id, mail_from, raw, tuple((c.id, c.address) for c in rows),
                                # after the list headers: they are signed too
                                self.signer.sign_later(m.site_id, raw, route.dkim, m.body_hash))
            jobs.append(Job(rows, m, route, delivery, provider_name, destination))
        ready, held = shaper.plan(jobs)
        sent, stopped = shaper.run(ready, self.pool, self._deliver, lambda p: self._relay(p).close(),
                                   close_all)
        for s in sent:
            job = s.job
            for c in job.rows:
                if c.provider != job.provider:  # failover chose another provider of the route
                    c = dataclasses.replace(c, provider=job.provider)
                reply = s.replies[c.id]
                outcomes.append(queue.Outcome(
                    c, job.message, reply, s.duration_ms,
                    job.route.next_provider(job.provider) if reply.outcome == TEMPORARY else None))
        waiting = []  # held back: due again later, or expired if later is past the message's age
        for c, until, reason in [(c, h.until, h.reason) for h in held + stopped for c in h.rows] + postponed:
            m = messages[c.message_id]
            if until > m.expires_at:
                outcomes.append(queue.Outcome(c, m, Reply(
                    queue.HELD_TOO_LONG, None, f"expired while held: {reason}"), 0))
            else:
                waiting.append((c.id, until, reason))
        queue.record(self.engine, self.name, outcomes, self.policy, utcnow(), self.events_policy)
        queue.postpone(self.engine, self.name, waiting, utcnow())
        return len(claimed)

    def run(self, idle_exit: bool = False) -> None:
        """Loop until :meth:`stop` (or SIGTERM/SIGINT in the main thread). A batch in flight is
        finished and recorded before the loop ends; nothing claimed is left half-done."""
        last_reap = 0.0
        default = self.provider(self.settings.default_provider)
        log.info("worker %s started; default provider: %s", self.name,
                 default.describe() if default else "not configured")
        while not self.stopping.is_set():
            try:
                if time.monotonic() - last_reap > min(5.0, self.settings.worker_lease / 4):
                    self.beat()
                    alerts.run_due(self.engine, self.settings)
                    dns_store.recheck_due(self.engine, self.settings)  # own thread, never raises
                    privacy.prune_due(self.engine, self.settings)
                    reaped = queue.reap_expired_leases(self.engine, utcnow())
                    if reaped:
                        log.warning("%d recipients had an expired lease; they are due again", reaped)
                    last_reap = time.monotonic()
                tried = self.run_once()
            except DBAPIError as exc:
                log.error("database trouble, retrying in 1 s: %s", exc.orig or exc)
                self.stopping.wait(1.0)
                continue
            if not tried:
                if idle_exit:
                    break
                self.stopping.wait(self.settings.worker_poll)
        self.close()

    def beat(self) -> None:
        """Tell /readyz and the status page this worker is alive."""
        now = utcnow()
        with self.engine.begin() as conn:
            if not conn.execute(update(WorkerBeat.__table__).where(WorkerBeat.name == self.name)
                                .values(beat_at=now)).rowcount:
                conn.execute(insert(WorkerBeat.__table__).values(name=self.name, beat_at=now,
                                                                 started_at=now))

    def stop(self, *_args) -> None:
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        with self._relays_lock:
            for relay in self._relays:
                relay.close()
            self._relays.clear()
        shaper_for(self).close()  # give back connection leases, close the shaping engine
