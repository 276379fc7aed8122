"""The Flask application factory (served by gunicorn: ``wpbridge web``)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

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
