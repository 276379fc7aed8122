"""Alembic environment: the database comes from wpbridge's settings, never from alembic.ini."""

from alembic import context

from wpbridge import db, settings as settings_mod
from wpbridge.events import store  # noqa: F401  (the events table)
from wpbridge import shape  # noqa: F401  (the shaping tables)
from wpbridge import auth  # noqa: F401  (the DNS check table)
from wpbridge.models import Base

config = context.config
settings = config.attributes.get("settings") or settings_mod.load()
engine = config.attributes.get("engine") or db.make_engine(settings)

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
