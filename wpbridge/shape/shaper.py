"""The shaper: between claim and relay, it decides for each SMTP transaction of a claimed
batch whether, when and through which provider it goes, then runs the transactions in lanes
(one connection each) and reacts to what comes back.

``plan`` takes the batch's transactions (:class:`Job`) and answers with the ones that go,
each with a send time, and the ones held back (:class:`Held`: rows, until when, why). It
looks, in this order, at: the site's bulk pause and bulk sending window; the route's
providers and their health (failover, probes); suspensions set by reactions; and the limits
(provider and destination rates, throttles set by reactions, warm-up caps), which it
reserves in one database transaction for the whole batch. Transactions under no limit cost
no database work at all: holds, provider health and bulk pauses are read at most every
``refresh`` seconds.

``run`` sends one provider's transactions: up to ``worker_connections`` lanes (fewer if the
provider's concurrent-connection limit says so) take them in send-time order, wait for
their slot and send; each outcome is handed on (``on_sent``) as it arrives. The worker runs
each provider on its own, so providers never wait for each other. A reply that matches a
reaction rule sets a hold at once, and the transactions of this batch that it concerns are
held back instead of sent; provider failures count towards failover the same way. A
provider coming back from down is probed (connect, EHLO, STARTTLS, AUTH, QUIT) on a thread
of its own: a probe never carries a customer's message.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import defaultdict, deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property

from sqlalchemy.exc import SQLAlchemyError

from wpbridge.models import utcnow
from wpbridge.relay import TEMPORARY, Delivery, Reply
from wpbridge.shape import guard, health, limits
from wpbridge.shape.config import ShapingConfig, destination_of
from wpbridge.shape.limits import Limit, to_dt, to_epoch
from wpbridge.shape.rates import Rate, parse_rate
from wpbridge.shape.rules import match

log = logging.getLogger("wpbridge.shape")


@dataclass
class Job:
    """One SMTP transaction of a claimed batch."""

    rows: list  # the queue.Claimed rows it carries
    message: object  # queue.Queued
    route: object  # route.Route
    delivery: Delivery
    provider: str  # the rows' provider; plan() may move it to the route's next one
    destination: str  # whose destination limits apply (ShapingConfig.destination)
    send_at: float = 0.0  # epoch seconds
    limits: tuple[Limit, ...] = ()  # the rate limits its send time was reserved at
    planned: float = 0.0

    @cached_property
    def targets(self) -> dict[int, tuple[str, str]]:
        """Recipient row id -> (destination, group) of its domain: what reactions act on."""
        return {rid: destination_of(address.rpartition("@")[2]) for rid, address in self.delivery.recipients}

    def hold_keys(self, provider: str) -> list[str]:
        """The keys a hold on which stops this job."""
        destinations = {self.destination} | {d for d, _ in self.targets.values()}
        return [provider_key(provider)] + [destination_key(provider, d) for d in sorted(destinations)]

    @property
    def units(self) -> int:
        return len(self.delivery.recipients)


@dataclass(frozen=True)
class Held:
    """Rows that do not go now: back to the queue until ``until``, with ``reason``."""

    rows: list
    until: datetime
    reason: str


@dataclass(frozen=True)
class Sent:
    job: Job
    replies: dict[int, Reply]
    duration_ms: int


@dataclass(frozen=True)
class _Action:
    action: str  # suspend | throttle
    until: datetime
    reason: str
    rate: Rate | None = None
    created: float = 0.0


@dataclass
class _Line:
    """A provider's planned jobs, shared by its lanes."""

    provider: str
    jobs: deque
    counted: bool  # the lanes hang up at the end (their leases go back after the batch)
    lock: threading.Lock = field(default_factory=threading.Lock)


def provider_key(provider: str) -> str:
    return f"provider:{provider}"


def destination_key(provider: str, destination: str) -> str:
    return f"destination:{provider}:{destination}"


@dataclass
class _Local:
    """This process's copy of the shared state, refreshed every ``refresh`` seconds and
    updated at once by what this process itself decides."""

    loaded: float = float("-inf")
    pruned: float = 0.0
    suspends: dict[str, _Action] = field(default_factory=dict)
    throttles: dict[str, _Action] = field(default_factory=dict)
    health: dict[str, health.Health] = field(default_factory=dict)
    paused: dict[int, str] = field(default_factory=dict)
    judged: dict[int, float] = field(default_factory=dict)  # site id -> last guard look
    warmup_day1: dict[tuple[str, str], datetime] = field(default_factory=dict)
    limits: dict[tuple[str, str], tuple[Limit, ...]] = field(default_factory=dict)  # configured ones
    leasable: set[tuple[str, int]] = field(default_factory=set)  # connection slot rows made
    kept: dict[str, float] = field(default_factory=dict)  # provider -> when to renew its leases
    # provider -> its recent transaction times (seconds), for telling late sends apart
    durations: dict[str, deque] = field(default_factory=lambda: defaultdict(lambda: deque(maxlen=64)))


class Shaper:
    def __init__(self, settings, name: str, lookup=None, config: ShapingConfig | None = None,
                 engine=None, prober=None):
        self.config = config or ShapingConfig.from_settings(settings)
        self.engine = engine or limits.state_engine(settings)
        self.name = name
        self.lookup = lookup or (lambda provider: True)  # is the provider configured here?
        # provider -> None when it took connect, EHLO, STARTTLS, AUTH, QUIT; else its failure
        self.prober = prober or (lambda provider: None)
        self.lanes = max(1, settings.worker_connections)
        self.probe_ttl = settings.smtp_transaction_timeout + self.config.horizon + 5
        self.lease_ttl = 2 * settings.smtp_transaction_timeout + self.config.horizon + 30
        self.stopping = threading.Event()  # the worker shuts down: lanes send nothing more
        self.lock = threading.Lock()
        self.local = _Local()

    # -- shared state ------------------------------------------------------------------

    def refresh(self, now: float) -> None:
        if now - self.local.loaded < self.config.refresh:
            return
        now_dt = to_dt(now)
        with self.engine.connect() as conn:
            holds = limits.active_holds(conn, now_dt)
            healths = health.load(conn)
            paused = guard.paused(conn)
        suspends, throttles = {}, {}
        for h in holds:  # ordered by until: the longest hold of a key wins
            reason = describe_hold(h.provider, h.destination, h.action, h.rate, h.until, h.rule, h.reply)
            action = _Action(h.action, h.until, reason, parse_rate(h.rate) if h.rate else None,
                             to_epoch(h.created_at))
            (suspends if h.action == "suspend" else throttles)[h.key] = action
        with self.lock:
            self.local.suspends, self.local.throttles = suspends, throttles
            self.local.health, self.local.paused = healths, paused
            self.local.loaded = now
        if paused and self.config.guard_interval >= 0:
            self._judge(set(paused), now)
        if now - self.local.pruned > 600:
            self.local.pruned = now
            limits.prune(self.engine, now)

    def _judge(self, site_ids: set[int], now: float) -> None:
        due = {s for s in site_ids if now - self.local.judged.get(s, float("-inf")) >= self.config.guard_interval}
        if not due:
            return
        verdicts = guard.evaluate(self.engine, due, to_dt(now), self.config)
        with self.lock:
            for site_id in due:
                self.local.judged[site_id] = now
                if site_id in verdicts:
                    self.local.paused[site_id] = verdicts[site_id]
                else:
                    self.local.paused.pop(site_id, None)

    # -- plan --------------------------------------------------------------------------

    def plan(self, jobs: list[Job], now: float | None = None) -> tuple[list[Job], list[Held]]:
        """Which transactions go (with their send times) and which wait."""
        now = time.time() if now is None else now
        self.refresh(now)
        self._judge({j.message.site_id for j in jobs if j.message.category == "bulk"}, now)
        now_dt = to_dt(now)
        ready: list[Job] = []
        held: list[Held] = []
        asks: list[tuple[Job, list[Limit]]] = []
        for job in jobs:
            job.planned = now
            stop = self._gate(job, now, now_dt)
            if stop is not None:
                held.append(stop)
                continue
            needs = self._limits(job, now)
            if needs:
                asks.append((job, needs))
            else:
                job.send_at = now
                ready.append(job)
        if asks:
            answers = limits.reserve(self.engine, [(needs, job.units) for job, needs in asks], now,
                                     self.config.horizon)
            for (job, needs), (at, why) in zip(asks, answers):
                if why is None:
                    job.send_at, job.limits = at, tuple(n for n in needs if n.gcra)
                    ready.append(job)
                else:
                    held.append(Held(job.rows, to_dt(at), f"held: {why}"))
        return ready, held

    def _gate(self, job: Job, now: float, now_dt: datetime) -> Held | None:
        m, local = job.message, self.local
        if m.category == "bulk":
            why = local.paused.get(m.site_id)
            if why:
                return Held(job.rows, now_dt + timedelta(seconds=self.config.guard_recheck), f"held: {why}")
            window = self.config.windows.get(m.site_name)
            opens = window.opens_at(now_dt) if window else None
            if opens is not None:
                return Held(job.rows, opens, f"held: outside the bulk sending window {window.text} "
                                             f"of site {m.site_name}")
        chosen, down = None, []
        for provider in _candidates(job.route.providers, job.provider):
            state = local.health.get(provider)
            if state is None or state.up:
                chosen = provider
                break
            if state.probe_due(now_dt) and health.claim_probe(self.engine, provider, now_dt,
                                                              self.probe_ttl):
                state = replace(state, state=health.PROBING,
                                probe_until=now_dt + timedelta(seconds=self.probe_ttl))
                with self.lock:
                    local.health[provider] = state
                threading.Thread(target=self._probe, args=(provider,), name=f"probe-{provider}",
                                 daemon=True).start()
            down.append(state)
        if chosen is None:
            until = min((s.down_until for s in down if s.down_until and s.down_until > now_dt),
                        default=now_dt + timedelta(seconds=self.config.refresh))
            return Held(job.rows, until, "held: every provider of the route is down ("
                        + "; ".join(f"{s.provider}: {s.last_error or 'failing'}" for s in down) + ")")
        job.provider = chosen
        for key in job.hold_keys(chosen) if local.suspends else ():
            hold = local.suspends.get(key)
            if hold is not None and hold.until > now_dt:
                return Held(job.rows, hold.until, f"held: {hold.reason}")
        return None

    def _limits(self, job: Job, now: float) -> list[Limit]:
        cfg, p, dest = self.config, job.provider, job.destination
        static = self.local.limits.get((p, dest))
        if static is None:
            static = self.local.limits[(p, dest)] = tuple(
                [self._limit(f"provider:{p}:{rate}", f"provider {p} rate {rate}", rate)
                 for rate in cfg.provider(p).rates]
                + [self._limit(f"destination:{p}:{dest}:{rate}", f"{dest} via {p} rate {rate}", rate)
                   for rate in cfg.destinations.get(dest, ())])
        out = list(static)
        now_dt = to_dt(now)
        for key in job.hold_keys(p) if self.local.throttles else ():
            t = self.local.throttles.get(key)
            if t is not None and t.until > now_dt and t.rate is not None:
                out.append(self._limit(f"{key}:throttle", t.reason, t.rate))
        if job.message.category == "bulk":
            domain = job.message.mail_from.rpartition("@")[2].lower() or job.message.site_name
            w = cfg.warmup.get(domain)
            if w is not None and w.applies(p):
                day = self._warmup_day(w, domain, p, now_dt)
                cap = w.cap(day)
                if cap is not None:
                    out.append(Limit(f"warmup:{domain}:{p}", f"warm-up of {domain} via {p}: day {day} "
                                                             f"cap of {cap} bulk messages reached", cap=cap))
        return out

    def _limit(self, key: str, label: str, rate: Rate) -> Limit:
        if rate.short:
            return Limit(key, label, rate, interval=rate.interval(self.config.jitter))
        return Limit(key, label, rate)

    def _warmup_day(self, w, domain: str, provider: str, now: datetime) -> int:
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        if w.start is not None:
            day1 = datetime(w.start.year, w.start.month, w.start.day)
        else:
            day1 = self.local.warmup_day1.get((domain, provider))
            if day1 is None:
                day1 = self.local.warmup_day1[(domain, provider)] = limits.warmup_start(
                    self.engine, domain, provider, today)
        return (today - day1).days + 1

    # -- run ---------------------------------------------------------------------------

    def run(self, ready: list[Job], pool, send, hang_up, on_sent=None) -> tuple[list[Sent], list[Held]]:
        """Send the planned transactions on ``pool``: ``send(provider, delivery) ->
        (replies, ms)``; ``on_sent(Sent)`` is called in the lane as each one ends (the worker
        records it there). For a provider whose connections are counted,
        ``hang_up(provider)`` closes the calling thread's connection to it.

        A worker that got a lease for each of its connection threads keeps them, and its
        connections, from batch to batch (renewing the leases) until a batch has nothing
        for the provider or the worker goes idle (:meth:`idle`); with fewer leases its lanes
        hang up at the end of each batch and the leases go back at once."""
        by_provider: dict[str, list[Job]] = defaultdict(list)
        for job in sorted(ready, key=lambda j: j.send_at):
            by_provider[job.provider].append(job)
        sent: list[Sent] = []
        held: list[Held] = []
        futures = []
        leased: list[str] = []
        now_dt = utcnow()
        try:
            for provider, jobs in by_provider.items():
                lanes = min(len(jobs), self.lanes)
                limit = self.config.provider(provider).connections
                counted = False
                if limit and provider in self.local.kept:
                    if time.time() > self.local.kept[provider]:
                        limits.renew_connections(self.engine, provider, self.name,
                                                 now_dt + timedelta(seconds=self.lease_ttl))
                        self.local.kept[provider] = time.time() + self.lease_ttl / 2
                elif limit:
                    create = (provider, limit) not in self.local.leasable
                    got = len(limits.acquire_connections(self.engine, provider, limit, self.lanes,
                                                         self.name, now_dt, self.lease_ttl, create))
                    self.local.leasable.add((provider, limit))
                    if not got:
                        until = now_dt + timedelta(seconds=1)
                        held += [Held(j.rows, until, f"held: provider {provider} has all {limit} "
                                                     "connections in use") for j in jobs]
                        continue
                    if got == self.lanes:  # every thread may keep a connection open
                        self.local.kept[provider] = time.time() + self.lease_ttl / 2
                    else:
                        counted = True
                        leased.append(provider)
                        lanes = min(lanes, got)
                line = _Line(provider, deque(jobs), counted)
                futures += [pool.submit(self._lane, line, send, hang_up, on_sent) for _ in range(lanes)]
            for f in futures:
                s, h = f.result()
                sent += s
                held += h
        finally:
            if leased:
                try:
                    limits.release_connections(self.engine, leased, self.name)
                except SQLAlchemyError as exc:  # the leases run out by themselves
                    log.error("could not release connection leases: %s", exc)
        return sent, held

    def idle(self, close_all) -> None:
        """The worker found nothing to do: close the connections it kept, return their leases."""
        for provider in list(self.local.kept):
            self.let_go(provider, close_all)

    def let_go(self, provider: str, close_all) -> None:
        """Close this worker's kept connections to ``provider`` (none of them in use) and
        return their leases."""
        if self.local.kept.pop(provider, None) is None:
            return
        close_all(provider)
        try:
            limits.release_connections(self.engine, [provider], self.name)
        except SQLAlchemyError as exc:  # the leases run out by themselves
            log.error("could not release the connection leases of %s: %s", provider, exc)

    def _lane(self, line: "_Line", send, hang_up, on_sent) -> tuple[list[Sent], list[Held]]:
        """One connection's worth of a provider's transactions, in send-time order."""
        sent: list[Sent] = []
        held: list[Held] = []
        renew_at = time.time() + self.lease_ttl / 2
        try:
            while (job := self._next(line, held)) is not None:
                if self.stopping.is_set():
                    held.append(Held(job.rows, utcnow(), "not sent: the worker shut down"))
                    continue
                stop = self._stopped(job)
                if stop is not None:
                    held.append(stop)
                    continue
                wait = job.send_at - time.time()
                if wait > 0:
                    time.sleep(wait)
                if self.config.provider(line.provider).connections and time.time() > renew_at:
                    renew_at = time.time() + self.lease_ttl / 2
                    try:
                        limits.renew_connections(self.engine, line.provider, self.name,
                                                 utcnow() + timedelta(seconds=self.lease_ttl))
                    except SQLAlchemyError as exc:
                        log.error("could not renew the connection leases of %s: %s", line.provider, exc)
                started = time.time()
                replies, ms = send(line.provider, job.delivery)
                if job.limits:
                    self._make_up(job, started, time.time())
                self._observe(job, replies)
                sent.append(Sent(job, replies, ms))
                if on_sent is not None:
                    on_sent(sent[-1])
        finally:
            if line.counted:
                hang_up(line.provider)
        return sent, held

    def _next(self, line: "_Line", held: list[Held]) -> Job | None:
        """The line's next job. One that would start more than ``jitter / 2`` after its slot
        could crowd the slots after it (the lanes fell behind, or a worker woke up late):
        it and the jobs waiting behind it get fresh slots first, in one reservation."""
        with line.lock:
            while line.jobs:
                job = line.jobs.popleft()
                now = time.time()
                if not job.limits or now - job.send_at <= self.config.jitter / 2:
                    return job
                waiting = [job] + [j for j in line.jobs if j.limits]
                try:
                    answers = limits.reserve(self.engine, [(j.limits, j.units) for j in waiting], now,
                                             self.config.horizon)
                except SQLAlchemyError as exc:
                    log.error("could not reserve new slots: %s", exc)
                    answers = [(now + 1, j.limits[0].label) for j in waiting]
                later = set()
                for j, (at, why) in zip(waiting, answers):
                    if why is None:
                        j.send_at = at
                    else:
                        held.append(Held(j.rows, to_dt(at), f"held: {why}"))
                        later.add(id(j))
                if later:
                    line.jobs = deque(j for j in line.jobs if id(j) not in later)
                if id(job) not in later:
                    return job
            return None

    def _make_up(self, job: Job, started: float, ended: float) -> None:
        """A transaction that ended later after its slot than ``jitter`` plus the provider's
        usual transaction time may have reached the provider among the following slots and
        crowded one of their windows: the next free slot is given up to make room again.
        Slots are reserved at most a quarter period ahead, so the given-up slot falls inside
        every window the late arrival could have crowded (for lateness up to about
        ``period - horizon``). A constant latency (a slow provider) shifts all sends alike
        and costs nothing."""
        with self.lock:
            usual = self.local.durations[job.provider]
            usual.append(ended - started)
            baseline = min(usual)
        if ended - job.send_at <= self.config.jitter + baseline:
            return
        try:
            limits.take_slot(self.engine, job.limits, job.units, ended)
        except SQLAlchemyError as exc:
            log.error("could not give up a slot after a late send: %s", exc)

    def _stopped(self, job: Job) -> Held | None:
        """Whether something this batch learnt (a hold, a provider going down) stops a job
        planned before it."""
        now_dt = utcnow()
        with self.lock:
            state = self.local.health.get(job.provider)
            if state is not None and state.state in (health.DOWN, health.PROBING):
                return Held(job.rows, now_dt, f"held: provider {job.provider} is down "
                                              f"({state.last_error or 'failing'})")
            for key in job.hold_keys(job.provider) if self.local.suspends or self.local.throttles else ():
                s = self.local.suspends.get(key)
                if s is not None and s.until > now_dt:
                    return Held(job.rows, s.until, f"held: {s.reason}")
                t = self.local.throttles.get(key)
                if t is not None and t.until > now_dt and t.created > job.planned:
                    return Held(job.rows, now_dt, f"held: {t.reason}")
        return None

    # -- react -------------------------------------------------------------------------

    def _observe(self, job: Job, replies: dict[int, Reply]) -> None:
        """Reactions and provider health from one transaction's replies."""
        if not self.lookup(job.provider):
            return  # this worker lacks the provider's settings: no news about the provider
        failed, answered = None, False
        seen = set()
        for rid, reply in replies.items():
            destination, group = job.targets[rid]
            if reply.outcome != TEMPORARY:
                answered = True
                continue
            if (reply.text, destination) in seen:
                continue
            seen.add((reply.text, destination))
            rule = match(self.config.rules, reply.code, reply.text, destination, group, job.provider)
            if rule is not None:
                answered = True
                self._react(rule, job, reply, destination)
            elif health.is_failure(reply):
                failed = reply
            else:
                answered = True
        try:
            if failed is not None:
                state = health.failure(self.engine, job.provider, failed.text, utcnow(), self.config)
                if state.state == health.DOWN:
                    log.warning("provider %s is down until %s: %s", job.provider, state.down_until,
                                failed.text)
                with self.lock:
                    self.local.health[job.provider] = state
            elif answered:
                state = self.local.health.get(job.provider)
                if state is not None and state.failures:
                    health.success(self.engine, job.provider, utcnow(), self.config)
                    with self.lock:
                        self.local.health.pop(job.provider, None)
        except SQLAlchemyError as exc:  # shaping state is advice: the delivery stands
            log.error("could not record the health of provider %s: %s", job.provider, exc)

    def _probe(self, provider: str) -> None:
        """Try a provider coming back from down without a message: success brings it back,
        failure sends it down again for twice as long."""
        try:
            failed = self.prober(provider)
        except Exception as exc:  # noqa: BLE001 - a probe that breaks is a failed probe
            failed = Reply.network(exc)
        try:
            if failed is None:
                health.success(self.engine, provider, utcnow(), self.config)
                with self.lock:
                    self.local.health.pop(provider, None)
                log.info("provider %s answered the probe; it takes its traffic again", provider)
            else:
                state = health.failure(self.engine, provider, failed.text, utcnow(), self.config)
                with self.lock:
                    self.local.health[provider] = state
                log.warning("provider %s failed the probe, down until %s: %s", provider,
                            state.down_until, failed.text)
        except SQLAlchemyError as exc:  # the probe claim runs out by itself
            log.error("could not record the probe of provider %s: %s", provider, exc)

    def _react(self, rule, job: Job, reply: Reply, destination: str) -> None:
        now = time.time()
        now_dt = to_dt(now)
        until = to_dt(now + rule.duration)
        if rule.scope == "provider":
            key, destination = provider_key(job.provider), None
            configured = _shortest(self.config.provider(job.provider).rates)
        else:
            key = destination_key(job.provider, destination)
            configured = _shortest(self.config.destinations.get(destination, ()))
        rate = None if rule.suspends else rule.throttle_rate(configured)
        kind = "suspend" if rule.suspends else "throttle"
        reason = describe_hold(job.provider, destination, kind, rate, until, rule.name, reply.text)
        with self.lock:
            table = self.local.suspends if rule.suspends else self.local.throttles
            current = table.get(key)
            if current is not None and current.until >= until - timedelta(seconds=min(5.0, rule.duration / 2)):
                return  # a burst of the same answer: one hold is enough
            table[key] = _Action(kind, until, reason, rate, now)
        log.warning("%s", reason)
        try:
            limits.add_hold(self.engine, key=key, provider=job.provider, destination=destination,
                            action=kind, rate=str(rate) if rate else None, rule=rule.name,
                            reply=reply.text, now=now_dt, until=until)
        except SQLAlchemyError as exc:
            log.error("could not store the hold on %s: %s", key, exc)

    # -- connections -------------------------------------------------------------------

    def messages_per_connection(self, provider: str) -> int | None:
        return self.config.provider(provider).messages_per_connection

    def close(self, close_all=lambda provider: None) -> None:
        """Return the connection leases this worker keeps (closing the connections with
        ``close_all``), and let go of the database."""
        self.idle(close_all)
        self.engine.dispose()


def _candidates(providers: tuple[str, ...], current: str) -> list[str]:
    """The row's provider first, then the rest of its route in order, wrapping around."""
    if current not in providers:
        return [current, *providers]
    i = providers.index(current)
    return list(providers[i:] + providers[:i])


def _shortest(rates) -> Rate | None:
    short = [r for r in rates if r.short]
    return min(short, key=lambda r: r.count / r.period) if short else None


def describe_hold(provider: str, destination: str | None, action: str, rate, until: datetime,
                  rule: str, reply: str) -> str:
    """What a hold says in a held row's last_response: "gmail via ses suspended until
    12:00:00 UTC by reaction gmail-rate-limit (421 4.7.28 ...)"."""
    what = f"{destination} via {provider}" if destination else f"provider {provider}"
    how = "suspended" if action == "suspend" else f"throttled to {rate}"
    return f"{what} {how} until {until:%H:%M:%S} UTC by reaction {rule} ({reply[:120]})"


_SHAPERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_SHAPERS_LOCK = threading.Lock()


def shaper_for(worker) -> Shaper:
    """The worker's shaper, made on first use."""
    with _SHAPERS_LOCK:
        shaper = _SHAPERS.get(worker)
        if shaper is None:
            ref = weakref.ref(worker)  # the shaper must not keep its worker alive

            def configured(provider: str) -> bool:
                w = ref()
                return w is not None and w.provider(provider) is not None

            def probe(provider: str):
                w = ref()
                return w.probe(provider) if w is not None else None

            shaper = _SHAPERS[worker] = Shaper(worker.settings, worker.name, configured, prober=probe)
        return shaper
