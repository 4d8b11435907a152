"""Schema migrations with Alembic, driven from code (`dms init`)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    cfg = alembic_config(str(engine.url))
    # Plain connection (not the app's BEGIN IMMEDIATE hook) so that SQLite DDL runs under Alembic's control.
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        # SQLite rebuilds a table to change it (create, copy, drop, rename): with foreign keys on, dropping a
        # referenced table fails or cascades. Off for the migration, set on the driver's connection before any
        # BEGIN (inside a transaction the pragma does nothing), checked after, on again before the connection goes
        # back to the pool.
        raw = connection.connection.driver_connection if sqlite else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
            connection.commit()
            if raw is not None:
                broken = raw.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration left rows with broken references: {broken[:5]}")
        finally:
            if raw is not None:
                connection.rollback()
                raw.execute("PRAGMA foreign_keys=ON")


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    from alembic.script import ScriptDirectory
    current = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert current is not None, "the migrations have no head"
    return current
