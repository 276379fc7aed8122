"""Fixtures: a real database (SQLite file, or the PostgreSQL server), the real app, a site
with credentials, a signing HTTP client, and real SMTP sinks on loopback."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.smtp_sink import Sink
from wpbridge import db, settings as settings_mod, sites
from wpbridge.app import create_app
from wpbridge.ingest.signing import sign_headers

PG_URL = os.environ.get("WPBRIDGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Tests reach nothing beyond loopback: bridges the tests start (workers, serve) do not look
# up their sending domains in the machine's DNS; the DNS tests use their own server.
os.environ["WPBRIDGE_DNS_RECHECK_INTERVAL"] = "0"


def _pg_available() -> str | None:
    try:
        engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"),
                                  connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means: no server here
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def pg_database():
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    why = _pg_available()
    if why:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {why}")
    name = f"wpbridge_t{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    db.upgrade(settings_mod.Settings(data_dir=Path(tempfile.mkdtemp()), database_url=url))
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'wpbridge.db'}"
    url = request.getfixturevalue("pg_database")
    # The schema is migrated once per session; each test starts from empty tables.
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        tables = [t for (t,) in conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
        conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    engine.dispose()
    return url


@pytest.fixture
def settings(tmp_path, database_url):
    return settings_mod.Settings(
        data_dir=tmp_path, database_url=database_url, secret_key="test-secret-key",
        retry_base=0.05, retry_max_delay=0.2, retry_jitter=0.0, worker_poll=0.05,
        smtp_timeout=10, sqlite_busy_timeout_ms=2000, dns_recheck_interval=0)


@pytest.fixture
def engine(settings):
    if settings.is_sqlite:
        db.upgrade(settings)
    engine = db.make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def app(settings, engine):
    app = create_app(settings, engine)
    app.testing = True
    return app


_OPENAPI = None


def check_openapi(method: str, path: str, body: bytes, headers: dict, resp) -> None:
    """Every answer the tests see must match wpbridge/openapi.yaml."""
    global _OPENAPI
    from openapi_core import OpenAPI
    from openapi_core.testing import MockRequest, MockResponse

    if _OPENAPI is None:
        from importlib import resources

        _OPENAPI = OpenAPI.from_file_path(str(resources.files("wpbridge") / "openapi.yaml"))
    from urllib.parse import parse_qsl

    path, _, query = path.partition("?")
    _OPENAPI.validate_response(
        MockRequest("http://localhost", method.lower(), path, args=dict(parse_qsl(query)),
                    data=body, headers=headers,
                    content_type=headers.get("Content-Type", "application/json")),
        MockResponse(resp.data, status_code=resp.status_code, headers=dict(resp.headers),
                     content_type=resp.mimetype))


class SiteClient:
    """A Flask test client that signs every request as one site and checks every answer
    against the OpenAPI document."""

    def __init__(self, client, key_id: str, secret: str, name: str):
        self.client, self.key_id, self.secret, self.name = client, key_id, secret, name

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None,
                sign: bool = True):
        h = dict(headers or {})
        if sign:
            h = {**sign_headers(self.key_id, self.secret, method, path, body), **h}
        if body:
            h.setdefault("Content-Type", "application/json")
        resp = self.client.open(path, method=method, data=body, headers=h)
        check_openapi(method, path, body, h, resp)
        return resp

    def post(self, path: str, payload, headers: dict | None = None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.request("POST", path, body, headers)

    def get(self, path: str):
        return self.request("GET", path)


def make_site(app, settings, name="shop.example.com", domains=("example.com",), *,
              from_policy=None, default_from=None, subdomains=None, **quotas) -> SiteClient:
    sessions = app.extensions["wpbridge"].sessions
    with sessions() as session, session.begin():
        _, creds = sites.create(session, settings.secret_key, name, list(domains), **quotas)
        sites.set_senders(session, name, from_policy, default_from, subdomains)
    return SiteClient(app.test_client(), creds.key_id, creds.secret, name)


@pytest.fixture
def site(app, settings) -> SiteClient:
    return make_site(app, settings)


@pytest.fixture
def sink():
    with Sink() as s:
        yield s


def message(**overrides) -> dict:
    body = {"from": "Shop <shop@example.com>", "to": ["alice@example.org"],
            "subject": "Your order #1001", "text": "Thanks for your order.",
            "context": {"source": "wp_mail", "wc_email_id": "customer_processing_order"}}
    body.update(overrides)
    return body


# CI sets WPBRIDGE_NO_SKIPS=1: a run that skipped anything (PostgreSQL not reachable,
# WordPress not installed, ...) is a failed run, whatever else passed.
_SKIPPED: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _SKIPPED.append(f"{report.nodeid}: {report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr}")


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("WPBRIDGE_NO_SKIPS") and _SKIPPED:
        print(f"\nWPBRIDGE_NO_SKIPS is set and {len(_SKIPPED)} test(s) were skipped:")
        for line in _SKIPPED:
            print("  " + line)
        session.exitstatus = 1
