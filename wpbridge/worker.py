"""The worker: claim due recipients, deliver them through their provider, record the replies.

Recipients of one message going through one provider travel in one SMTP transaction. Each
provider has its own ``worker_connections`` connection threads and its own runner, so a
slow or stuck provider delays only the mail routed to it; the main thread keeps claiming
for the others. Each transaction's outcome is committed as it ends (group-committed by the
:class:`Recorder`) before its connection sends the next one, so a killed worker repeats at
most the transactions in flight. The one broad ``except`` sits around one delivery.
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
from wpbridge.shape.health import is_failure
from wpbridge.settings import Settings
from wpbridge.status import alerts

log = logging.getLogger("wpbridge.worker")


class Recorder:
    """Group commit of outcomes: :meth:`record` hands outcomes in (and by default waits until
    they are committed); one thread commits whatever is waiting in one ``queue.record``
    transaction, so four connections finishing together cost one commit, not four."""

    def __init__(self, worker: "Worker"):
        self.worker = worker
        self.cond = threading.Condition()
        self.pending: list[tuple[list, threading.Event]] = []
        self.closing = False
        self.thread = threading.Thread(target=self._loop, name="recorder", daemon=True)
        self.thread.start()

    def record(self, outcomes: list, wait: bool = True) -> None:
        if not outcomes:
            return
        done = threading.Event()
        with self.cond:
            self.pending.append((outcomes, done))
            self.cond.notify()
        while wait and not done.wait(0.5):
            if not self.thread.is_alive():  # closed: these rows' leases are given back instead
                return

    def _loop(self) -> None:
        w = self.worker
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.pending or self.closing)
                if not self.pending:
                    return
                batch, self.pending = self.pending, []
            while True:
                try:
                    queue.record(w.engine, w.name, [o for outcomes, _ in batch for o in outcomes],
                                 w.policy, utcnow(), w.events_policy)
                    break
                except DBAPIError as exc:  # kept and tried again: the rows stay leased meanwhile
                    log.error("could not record %d outcomes, retrying in 1 s: %s",
                              sum(len(o) for o, _ in batch), exc.orig or exc)
                    if self.closing:  # shutting down: the leases run out, the rows go again
                        break
                    time.sleep(1.0)
            for _, done in batch:
                done.set()

    def close(self, timeout: float) -> None:
        """Commit what is waiting (within ``timeout``) and stop."""
        with self.cond:
            self.closing = True
            self.cond.notify()
        self.thread.join(timeout)


class _Runner:
    """One provider's side of the worker: its connection threads, and a thread that sends
    the batches handed to it one after the other."""

    def __init__(self, worker: "Worker", provider: str):
        self.worker, self.provider = worker, provider
        self.pool = ThreadPoolExecutor(max(1, worker.settings.worker_connections),
                                       thread_name_prefix=f"relay-{provider}")
        self.cond = threading.Condition()
        self.jobs: list[Job] = []
        self.running = False
        self.closing = False
        self.thread = threading.Thread(target=self._loop, name=f"runner-{provider}", daemon=True)
        self.thread.start()

    def add(self, jobs: list[Job]) -> None:
        with self.cond:
            self.jobs += jobs
            self.cond.notify_all()

    @property
    def full(self) -> bool:
        """A batch already waits behind the one being sent: claim nothing more for it."""
        return len(self.jobs) >= self.worker.settings.worker_batch

    @property
    def idle(self) -> bool:
        return not self.jobs and not self.running

    def wait_idle(self, until: float | None = None) -> bool:
        """Wait until nothing is in hand (up to ``until``, time.monotonic()); whether it is so."""
        with self.cond:
            return self.cond.wait_for(lambda: self.idle, None if until is None
                                      else max(0.0, until - time.monotonic()))

    def _loop(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.jobs or self.closing)
                if self.closing:
                    return  # jobs not started keep their rows leased: close() releases them
                jobs, self.jobs, self.running = self.jobs, [], True
            self.worker.wakeup.set()  # room for another batch of this provider
            try:
                self.worker._send(jobs, self.pool)
            except Exception:  # noqa: BLE001 - a bug must not stop the provider's runner
                log.exception("sending a batch through %s failed unexpectedly", self.provider)
                try:
                    queue.release(self.worker.engine, self.worker.name,
                                  [c.id for j in jobs for c in j.rows], utcnow())
                except DBAPIError as exc:
                    log.error("could not give the rows back (their leases run out): %s", exc)
            finally:
                with self.cond:
                    self.running = False
                    self.cond.notify_all()
                self.worker.wakeup.set()

    def close(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        self.thread.join(1.0)
        self.pool.shutdown(wait=False, cancel_futures=True)


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
        self.wakeup = threading.Event()  # something changed: claim again now
        self.local = threading.local()
        self.recorder = Recorder(self)
        self.runners: dict[str, _Runner] = {}
        self._relays: list = []
        self._relays_lock = threading.Lock()
        self._closed = False

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

    def _close_all(self, provider: str) -> None:
        """Close this worker's connections to ``provider`` (its runner is idle)."""
        with self._relays_lock:
            for relay in self._relays:
                if getattr(getattr(relay, "provider", None), "name", None) == provider:
                    relay.close()

    def probe(self, provider_name: str) -> Reply | None:
        """Connect, EHLO, STARTTLS, AUTH, QUIT through a provider coming back from down, on a
        connection of its own (see wpbridge.shape.health): None when it took all of it."""
        provider = self.provider(provider_name)
        if provider is None:
            return None
        relay = open_relay(provider, self.settings)
        try:
            return relay.probe()
        finally:
            relay.close()

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

    def _on_sent(self, s) -> None:
        """One transaction ended: its outcomes are committed before its connection sends
        again. A provider failure sends the message to the route's next provider at once."""
        job, outcomes = s.job, []
        providers = job.route.providers
        for c in job.rows:
            if c.provider != job.provider:  # failover chose another provider of the route
                c = dataclasses.replace(c, provider=job.provider)
            reply = s.replies[c.id]
            following = job.route.next_provider(job.provider) if reply.outcome == TEMPORARY else None
            at_once = (following is not None and following != job.provider and is_failure(reply)
                       and c.attempts + 1 < len(providers))
            outcomes.append(queue.Outcome(c, job.message, reply, s.duration_ms, following, at_once))
        self.recorder.record(outcomes)

    def _put_back(self, rows_until_reason, messages) -> None:
        """Held rows: due again later, or expired when later is past the message's age."""
        expired, waiting = [], []
        for c, until, reason in rows_until_reason:
            m = messages[c.message_id]
            if until > m.expires_at:
                expired.append(queue.Outcome(c, m, Reply(
                    queue.HELD_TOO_LONG, None, f"expired while held: {reason}"), 0))
            else:
                waiting.append((c.id, until, reason))
        self.recorder.record(expired, wait=False)
        queue.postpone(self.engine, self.name, waiting, utcnow())

    def _send(self, jobs: list[Job], pool) -> None:
        """Send one provider's batch (in its runner's thread); rows held back go back to the queue."""
        _, held = shaper_for(self).run(jobs, pool, self._deliver, lambda p: self._relay(p).close(),
                                       self._on_sent)
        self._put_back([(c, h.until, h.reason) for h in held for c in h.rows],
                       {j.message.id: j.message for j in jobs})

    def _let_go(self, keep=()) -> None:
        """Kept connections of idle providers not in ``keep``: closed, their leases given back."""
        shaper = shaper_for(self)
        for provider in list(shaper.local.kept):
            runner = self.runners.get(provider)
            if provider not in keep and (runner is None or runner.idle):
                shaper.let_go(provider, self._close_all)

    def _runner(self, provider: str) -> _Runner:
        runner = self.runners.get(provider)
        if runner is None:
            runner = self.runners[provider] = _Runner(self, provider)
        return runner

    def claim_round(self) -> int:
        """Claim what the providers' runners have room for, shape it, hand each provider its
        transactions and put back what must wait (see wpbridge.shape); returns at once with
        how many were claimed. Outcomes are recorded by the runners as they come."""
        now = utcnow()
        shaper = shaper_for(self)
        claimed = queue.claim(self.engine, self.name, self.settings.worker_batch,
                              self.settings.worker_lease, now, self.settings.worker_bulk_batch,
                              exclude=[p for p, r in self.runners.items() if r.full])
        if not claimed:
            self._let_go()
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
        self.recorder.record(outcomes, wait=False)
        self._put_back([(c, h.until, h.reason) for h in held for c in h.rows] + postponed, messages)
        by_provider: dict[str, list[Job]] = defaultdict(list)
        for job in ready:
            by_provider[job.provider].append(job)
        self._let_go(keep=by_provider)  # a batch with nothing for a provider ends its kept connections
        for provider, provider_jobs in by_provider.items():
            self._runner(provider).add(provider_jobs)
        return len(claimed)

    def run_once(self) -> int:
        """One claim round, then wait until everything in hand is sent and recorded (for
        ``--once``-style callers and tests). Returns how many were claimed."""
        claimed = self.claim_round()
        self.drain()
        return claimed

    def drain(self) -> None:
        """Wait until no runner has work and every outcome handed in is committed."""
        for runner in list(self.runners.values()):
            runner.wait_idle()
        done = threading.Event()
        with self.recorder.cond:  # an empty round: it ends after every round handed in before it
            self.recorder.pending.append(([], done))
            self.recorder.cond.notify()
        done.wait()

    def run(self, idle_exit: bool = False) -> None:
        """Loop until :meth:`stop` (or SIGTERM/SIGINT in the main thread), then shut down
        (:meth:`close`): transactions in flight get ``worker_grace`` seconds to finish."""
        last_reap = 0.0
        default = self.provider(self.settings.default_provider)
        log.info("worker %s started; default provider: %s", self.name,
                 default.describe() if default else "not configured")
        try:
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
                    self.wakeup.clear()
                    tried = self.claim_round()
                except DBAPIError as exc:
                    log.error("database trouble, retrying in 1 s: %s", exc.orig or exc)
                    self.stopping.wait(1.0)
                    continue
                if not tried:
                    if idle_exit and all(r.idle for r in self.runners.values()):
                        break
                    self.wakeup.wait(self.settings.worker_poll)
        finally:
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
        self.wakeup.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def close(self) -> None:
        """Shut down within ``worker_grace`` + a few seconds: send nothing new, let the
        transactions in flight finish for up to ``worker_grace`` seconds, then cut them off
        (recorded as temporary failures: "interrupted at shutdown; may have been delivered"),
        commit every outcome, and give back every lease this worker holds."""
        if self._closed:
            return
        self._closed = True
        shaper = shaper_for(self)
        shaper.stopping.set()
        grace_ends = time.monotonic() + self.settings.worker_grace
        if not all(r.wait_idle(grace_ends) for r in list(self.runners.values())):
            log.warning("transactions still in flight after %g s: cutting them off",
                        self.settings.worker_grace)
            with self._relays_lock:
                for relay in self._relays:
                    relay.abort()
            cut_ends = time.monotonic() + 2.0
            for r in list(self.runners.values()):
                r.wait_idle(cut_ends)
        self.recorder.close(2.0)
        try:
            given_back = queue.release(self.engine, self.name, None, utcnow())
            if given_back:
                log.info("gave back %d leased recipients not sent", given_back)
        except DBAPIError as exc:
            log.error("could not give back the leases (they run out by themselves): %s", exc)
        for runner in self.runners.values():
            runner.close()
        with self._relays_lock:
            for relay in self._relays:
                relay.close()
            self._relays.clear()
        shaper.close(self._close_all)  # give back connection leases, close the shaping engine
