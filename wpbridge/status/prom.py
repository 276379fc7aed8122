"""``GET /metrics``: the status page's figures for Prometheus, read at scrape time.

Volumes are gauges over the same sliding windows as the page (1 h, 24 h, 7 d), because the
counters behind them are pruned (minute buckets after 48 h), which a Prometheus counter
must never see. The endpoint needs an agency token (``Authorization: Bearer ...``, which
Prometheus sends with ``authorization: {credentials: ...}``) unless ``metrics_open`` is set.
"""

from __future__ import annotations

from flask import Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import select

from wpbridge.models import Site, WorkerBeat, utcnow
from wpbridge.status import access, alerts, figures
from wpbridge.status.metrics import FIELDS

LEVEL = {alerts.OK: 0, alerts.WARNING: 1, alerts.CRITICAL: 2}


class StatusCollector:
    def __init__(self, bridge):
        self.bridge = bridge

    def collect(self):
        now = utcnow()
        rec = GaugeMetricFamily("wpbridge_recipients", "Recipients per outcome over a sliding "
                                "window, from the counters", labels=["site", "window", "category", "outcome"])
        grp = GaugeMetricFamily("wpbridge_recipients_by_domain_group", "Recipients per outcome "
                                "and recipient domain group over the last 24 h",
                                labels=["site", "domain_group", "outcome"])
        rates = {name: GaugeMetricFamily(f"wpbridge_{name}", help_, labels=["site", "window"])
                 for name, help_ in (("bounce_rate", "Bounced / (delivered + bounced)"),
                                     ("complaint_rate", "Complaints / delivered"),
                                     ("deferred_share", "Deferred share of delivery tries"))}
        latency = GaugeMetricFamily("wpbridge_delivery_latency_seconds", "Time from accept to the "
                                    "provider's 2xx, from the histogram", labels=["site", "window", "quantile"])
        depth = GaugeMetricFamily("wpbridge_queue_depth", "Recipients queued or being sent",
                                  labels=["site", "lane"])
        oldest = GaugeMetricFamily("wpbridge_queue_oldest_age_seconds", "Age of the oldest queued "
                                   "recipient's message", labels=["site", "lane"])
        health = GaugeMetricFamily("wpbridge_health_level", "0 ok, 1 warning, 2 critical", labels=["site"])
        level = GaugeMetricFamily("wpbridge_alert_level", "Per metric: 0 ok, 1 warning, 2 critical",
                                  labels=["site", "metric"])
        beats = GaugeMetricFamily("wpbridge_worker_heartbeat_age_seconds", "Seconds since each "
                                  "worker's last beat", labels=["worker"])
        with self.bridge.engine.connect() as conn:
            for site_id, name in conn.execute(select(Site.id, Site.name).order_by(Site.name)).all():
                for window, span in figures.WINDOWS.items():
                    by_cat = figures.counts_by(conn, site_id, span, now, by=("category",))
                    total = figures.Counts()
                    for (category,), c in sorted(by_cat.items()):
                        for outcome in FIELDS:
                            rec.add_metric([name, window, category, outcome], getattr(c, outcome))
                        total.merge(c)
                    for metric, fam in rates.items():
                        value = getattr(total, metric)
                        if value is not None:
                            fam.add_metric([name, window], value)
                    for q in (0.5, 0.95):
                        value = total.percentile(q)
                        if value is not None:
                            latency.add_metric([name, window, str(q)], value)
                for group, c in figures.per_domain(conn, site_id, figures.WINDOWS["24h"], now):
                    for outcome in FIELDS:
                        grp.add_metric([name, group, outcome], getattr(c, outcome))
                gauges = figures.queue_gauges(conn, site_id, now)
                for gauge in gauges:
                    depth.add_metric([name, gauge.lane], gauge.depth)
                    if gauge.oldest_age is not None:
                        oldest.add_metric([name, gauge.lane], gauge.oldest_age)
                h = alerts.health(conn, self.bridge.settings, site_id, now, gauges=gauges)
                health.add_metric([name], LEVEL[h.level])
                for metric, (lvl, _) in sorted(h.metrics.items()):
                    level.add_metric([name, metric], LEVEL[lvl])
            for worker, beat_at in conn.execute(select(WorkerBeat.name, WorkerBeat.beat_at)).all():
                beats.add_metric([worker], (now - beat_at).total_seconds())
        yield from [rec, grp, *rates.values(), latency, depth, oldest, health, level, beats]


def init_app(app) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusCollector(app.extensions["wpbridge"]))

    @app.get("/metrics")
    def metrics():
        """:raise 401: no valid agency token (unless ``metrics_open``)."""
        bridge = app.extensions["wpbridge"]
        if not getattr(bridge.settings, "metrics_open", False):
            auth = request.headers.get("Authorization", "")
            with bridge.engine.begin() as conn:
                ok = auth.lower().startswith("bearer ") and \
                    access.check_admin_token(conn, auth[7:], utcnow()) is not None
            if not ok:
                return Response("an agency token is required: send 'Authorization: Bearer <token>' "
                                "('wpbridge admin create-token' makes one)\n", 401,
                                {"WWW-Authenticate": 'Bearer realm="wpbridge"',
                                 "Content-Type": "text/plain; charset=utf-8"})
        return Response(generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST})
