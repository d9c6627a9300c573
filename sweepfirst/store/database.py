"""Opening the state database and the one session helper every query goes through."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from sweepfirst.errors import DatabaseError, SweepfirstError

DEFAULT_DB_FILENAME = "sweepfirst.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
READONLY_OPTION = "sweepfirst_readonly"


def default_db_url(state_dir: Path) -> str:
    return f"sqlite:///{(state_dir / DEFAULT_DB_FILENAME).resolve()}"


def redact_url(url: str) -> str:
    """The URL without its password, for anything a person or a log may see."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        # Not a URL SQLAlchemy understands, but it may still hold "user:password@": keep only
        # the scheme and what follows the last "@".
        if "@" not in url:
            return url
        scheme, sep, _rest = url.partition("://")
        return f"{scheme}{sep}***@{url.rpartition('@')[2]}" if sep else f"***@{url.rpartition('@')[2]}"


def redact_secret(message: str, url: str) -> str:
    """``message`` with the URL's password masked (a driver may quote its connection string)."""
    try:
        password = make_url(url).password
    except sa_exc.ArgumentError:
        return message
    return message.replace(str(password), "***") if password else message


def _configure_sqlite(engine: Engine) -> None:
    """WAL so readers never block the writer; BEGIN IMMEDIATE so two writers queue, not deadlock."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers take no lock at all (WAL gives them a snapshot); a writer that took a plain
        # BEGIN could fail to upgrade its lock, so writers queue up front instead.
        readonly = connection.get_execution_options().get(READONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


class Database:
    """A state database: an engine, a session factory and the schema."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            parsed = make_url(url)
        except sa_exc.ArgumentError:
            raise DatabaseError(
                f"The database URL {redact_url(url)!r} is not valid; use sqlite:///PATH or "
                "postgresql+psycopg://USER@HOST/DB."
            ) from None
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            if parsed.database:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine = create_engine(url, **kwargs)
        except (sa_exc.ArgumentError, ModuleNotFoundError) as error:
            raise DatabaseError(
                f"Cannot open {redact_url(url)}: {redact_secret(str(error), url)}; check --db-url."
            ) from None
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{READONLY_OPTION: True}), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def create_schema(self) -> None:
        """Bring the schema up to date (migrations; see sweepfirst.store.migrate)."""
        from sweepfirst.store.migrate import upgrade_on_open

        with self._translate_errors():
            upgrade_on_open(self)

    @contextlib.contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """One transaction: commit on success, roll back on any error, always close.

        ``readonly`` sessions never block writers on SQLite (use them for queries).
        """
        with self._translate_errors():
            session = (self._read_sessions if readonly else self._sessions)()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    def translate_errors(self) -> contextlib.AbstractContextManager[None]:
        """Driver errors inside become a DatabaseError that names the (redacted) URL."""
        return self._translate_errors()

    @contextlib.contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except SweepfirstError:
            raise
        except sa_exc.OperationalError as error:
            raise DatabaseError(
                f"The state database {redact_url(self.url)} failed: "
                f"{redact_secret(str(error.orig), self.url)}; "
                "check that it is reachable and not corrupted (--db-url / --state-dir)."
            ) from None

    def dispose(self) -> None:
        self.engine.dispose()
