"""Database engine and schema upgrades.

SQLite (the embedded default) runs in WAL mode with ``synchronous=FULL``: a commit is on
disk before the bridge says yes. PostgreSQL keeps its default ``synchronous_commit=on``.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from importlib import resources

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker

from wpbridge.errors import DatabaseUnavailable
from wpbridge.settings import Settings


def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        lock_path = str(settings.data_dir / "write.lock")
        engine = create_engine(url, connect_args={
            "timeout": settings.sqlite_busy_timeout_ms / 1000, "check_same_thread": False,
            # Let SQLAlchemy issue BEGIN itself (see _begin below).
            "isolation_level": None,
            "factory": type("LockedConnection", (_LockedConnection,), {"lock_path": lock_path}),
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
            # BEGIN IMMEDIATE takes the write lock up front, so a writer waits instead of
            # failing on a lock upgrade mid-transaction.
            dbapi_conn = conn.connection.dbapi_connection
            dbapi_conn.lock()
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                dbapi_conn.unlock()
                raise

        return engine
    return create_engine(url, pool_size=16, max_overflow=32, pool_pre_ping=True)


class _LockedConnection(sqlite3.Connection):
    """A SQLite connection whose transactions also hold an flock on ``lock_path``.

    SQLite's own busy handler polls with sleeps of up to 100 ms, which turns two busy
    processes into long stalls; a blocking flock hands the write lock over at once. The
    flock is taken before BEGIN and released after COMMIT or ROLLBACK returned.
    """

    lock_path: str

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        self._locked = False

    def lock(self) -> None:
        if not self._locked:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._locked = True

    def unlock(self) -> None:
        if self._locked:
            self._locked = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.unlock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.unlock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.unlock()
            os.close(self._lock_fd)


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(settings: Settings):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("wpbridge.migrations")))
    cfg.attributes["settings"] = settings
    return cfg


def upgrade(settings: Settings) -> None:
    """Create or upgrade the schema to the newest migration (``wpbridge db upgrade``).

    :raise DatabaseUnavailable: the database cannot be reached or written.
    """
    from alembic import command

    try:
        command.upgrade(alembic_config(settings), "head")
    except DBAPIError as exc:
        raise unavailable(settings, exc) from None
    except OSError as exc:  # the data directory cannot be made or written
        raise DatabaseUnavailable(f"cannot create the database in {settings.data_dir}: {exc}; "
                                  "check WPBRIDGE_DATA and its permissions") from None


_ready: set[str] = set()


def ensure_schema(settings: Settings) -> None:
    """Create or upgrade the schema, once per process and database: what ``serve`` does on
    start, and every command that reads or writes the database does first, so that no
    command depends on another having run before it.

    :raise DatabaseUnavailable: the database cannot be reached or written.
    """
    if settings.database_url not in _ready:
        upgrade(settings)
        _ready.add(settings.database_url)


def unavailable(settings: Settings, exc: Exception) -> DatabaseUnavailable:
    """One line for a database error: which database (no password), what it said, the fix."""
    orig = getattr(exc, "orig", None) or exc
    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0][:300]
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    hint = ("check that PostgreSQL runs and WPBRIDGE_DATABASE_URL is right"
            if not settings.is_sqlite else "check WPBRIDGE_DATA (or WPBRIDGE_DATABASE_URL) and "
            "the file's permissions")
    return DatabaseUnavailable(f"cannot use the database {where}: {reason}; {hint}")
