"""The Flask application factory (served by gunicorn: ``wpbridge web``)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from wpbridge import db, settings as settings_mod
from wpbridge.sites import Directory


@dataclass
class Bridge:
    """What request handlers need, kept at ``app.extensions["wpbridge"]``."""

    settings: settings_mod.Settings
    engine: object
    sessions: object
    sites: Directory


def create_app(settings: settings_mod.Settings | None = None, engine=None) -> Flask:
    settings = settings_mod.ensure_secret_key(settings or settings_mod.load())
    engine = engine or db.make_engine(settings)
    sessions = db.make_sessionmaker(engine)
    app = Flask(__name__)
    # Base64 makes a message a third larger; leave room for JSON around it.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_message_bytes * 4 // 3 + 1024 * 1024
    if settings.trusted_proxies:
        app.wsgi_app = TrustedProxies(app.wsgi_app, settings.trusted_proxies)
    app.extensions["wpbridge"] = Bridge(settings, engine, sessions,
                                        Directory(sessions, settings.secret_key))

    from wpbridge.events import unsubscribe, webhooks
    from wpbridge.ingest import http

    app.register_blueprint(http.bp)
    app.register_blueprint(unsubscribe.bp)
    app.register_blueprint(webhooks.bp)
    from wpbridge.status import web as status_web

    status_web.init_app(app)

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        if request.path.startswith("/api/"):
            return http.http_error(exc)
        return exc

    @app.get("/healthz")
    def healthz():
        return jsonify({"ok": True})

    return app


class TrustedProxies:
    """werkzeug's ProxyFix (one proxy hop: X-Forwarded-For and X-Forwarded-Proto) for
    requests from the ``trusted_proxies`` networks only; anyone else's X-Forwarded-*
    headers are ignored, so a client cannot claim https or another address."""

    def __init__(self, wsgi_app, networks: tuple[str, ...]):
        self.direct, self.proxied = wsgi_app, ProxyFix(wsgi_app, x_for=1, x_proto=1)
        self.networks = [ipaddress.ip_network(n) for n in networks]

    def __call__(self, environ, start_response):
        try:
            peer = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
        except ValueError:
            return self.direct(environ, start_response)
        trusted = any(peer in n for n in self.networks)
        return (self.proxied if trusted else self.direct)(environ, start_response)
