"""Database engine and schema upgrades.

SQLite (the embedded default) runs in WAL mode with ``synchronous=FULL``: a commit is on
disk before the bridge says yes. PostgreSQL keeps its default ``synchronous_commit=on``.
"""

from __future__ import annotations

from importlib import resources

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from wpbridge.settings import Settings



def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={
            "timeout": settings.sqlite_busy_timeout_ms / 1000, "check_same_thread": False,
            # Let SQLAlchemy issue BEGIN itself (see _begin below).
            "isolation_level": None,
        }, pool_size=32, max_overflow=64)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            # BEGIN IMMEDIATE takes the write lock up front, so a writer waits for the
            # busy timeout instead of failing on a lock upgrade mid-transaction.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=16, max_overflow=32, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(settings: Settings):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("wpbridge.migrations")))
    cfg.attributes["settings"] = settings
    return cfg


def upgrade(settings: Settings) -> None:
    """Create or upgrade the schema to the newest migration (``wpbridge db upgrade``)."""
    from alembic import command

    command.upgrade(alembic_config(settings), "head")
