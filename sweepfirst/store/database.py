"""Opening the state database and the one session helper every query goes through."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from sweepfirst.errors import DatabaseError, NoState, SweepfirstError
from sweepfirst.store.connection_options import READONLY_OPTION

DEFAULT_DB_FILENAME = "sweepfirst.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000

# SQLite's primary result codes (an extended code keeps the primary one in its low byte).
_SQLITE_READONLY = 8
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26
#: PostgreSQL's SQLSTATE for "disk full".
_PG_DISK_FULL = "53100"
#: Query-string keys whose values are credentials (psycopg takes ?password=..., ?sslpassword=...).
_SECRET_KEY = re.compile(r"pass|secret|token", re.IGNORECASE)
_SECRET_QUERY_ITEM = re.compile(r"(?<=[?&])([^=&#]*(?:pass|secret|token)[^=&#]*)=([^&#]*)", re.IGNORECASE)


def default_db_url(state_dir: Path) -> str:
    return f"sqlite:///{(state_dir / DEFAULT_DB_FILENAME).resolve()}"


def redact_url(url: str) -> str:
    """The URL without its password (in the user part or the query), for anything a person or a
    log may see."""
    try:
        rendered = make_url(url).render_as_string(hide_password=True)
    except (sa_exc.ArgumentError, ValueError):
        # Not a URL SQLAlchemy understands (a bad port raises ValueError), but it may still hold
        # "user:password@": keep only the scheme and what follows the last "@" of the address.
        address, question, query = url.partition("?")
        if "@" in address:
            scheme, sep, _rest = address.partition("://")
            host = address.rpartition("@")[2]
            address = f"{scheme}{sep}***@{host}" if sep else f"***@{host}"
        rendered = f"{address}{question}{query}"
    return _SECRET_QUERY_ITEM.sub(r"\1=***", rendered)


def _secrets(url: str) -> list[str]:
    """Every credential the URL holds, as written and unquoted, longest first."""
    found: list[str] = []
    address, _question, query = url.partition("?")
    userinfo = address.partition("://")[2].rpartition("@")[0]
    if ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    for item in query.split("&"):
        key, sep, value = item.partition("=")
        if sep and value and _SECRET_KEY.search(key):
            found.append(value)
    with contextlib.suppress(sa_exc.ArgumentError, ValueError):
        parsed = make_url(url)
        if parsed.password:
            found.append(str(parsed.password))
        found += [str(v) for k, v in parsed.query.items() if _SECRET_KEY.search(k) and isinstance(v, str)]
    found += [unquote(s) for s in found]
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact_secret(message: str, url: str) -> str:
    """``message`` with the URL's credentials masked (a driver may quote its connection string)."""
    for secret in _secrets(url):
        message = message.replace(secret, "***")
    return message


def read_only_error(folder: Path) -> DatabaseError:
    return DatabaseError(
        f"The state dir {folder} is read-only, so nothing can be recorded there; make it writable "
        "(chmod u+w) or pass another --state-dir."
    )


def no_state_error(where: str) -> NoState:
    return NoState(
        f"The state database {where} holds no sweepfirst state; start a run with "
        "`sweepfirst run WORKFLOW`, or check --state-dir / --db-url."
    )


def _parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except (sa_exc.ArgumentError, ValueError) as error:
        # SQLAlchemy reports a non-numeric port as int()'s ValueError.
        problem = "its port is not a number" if isinstance(error, ValueError) else "it cannot be parsed"
        raise DatabaseError(
            f"The database URL {redact_url(url)!r} is not valid ({problem}); write it like "
            "sqlite:///PATH or postgresql+psycopg://USER@HOST:5432/DB."
        ) from None


def _sqlite_file(parsed: URL) -> Path | None:
    """The database file a SQLite URL names; None for in-memory databases and raw URI names."""
    name = parsed.database
    if not name or name == ":memory:" or name.startswith("file:") or parsed.query.get("uri"):
        return None
    return Path(name)


def _os_error(error: OSError, folder: Path) -> DatabaseError:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DatabaseError(
            f"The disk holding {folder} is full; free some space, then continue with `sweepfirst resume`."
        )
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return read_only_error(folder)
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        return DatabaseError(f"The state dir {folder} (or a folder above it) is a file, not a folder; "
                             "pass --state-dir a folder.")
    return DatabaseError(f"The state dir {folder} cannot be used ({error.strerror}); pass another --state-dir.")


def _prepare_sqlite_file(path: Path, *, create: bool) -> bool:
    """Check (and, with ``create``, make) the database file's folder; True when it is read-only.

    ``create=False`` touches nothing: a mistyped --state-dir must not leave an empty database behind.
    """
    folder = path.parent
    try:
        ancestor = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if ancestor is not None and not ancestor.is_dir():
            which = "" if ancestor == folder else f" cannot be made: {ancestor}"
            raise DatabaseError(f"The state dir {folder}{which} is a file, not a folder; pass --state-dir a folder.")
        if path.is_dir():
            raise DatabaseError(f"The state database {path} is a folder, not a file; pass --state-dir "
                                f"the folder that holds {DEFAULT_DB_FILENAME}.")
        if path.exists():
            if not create and path.stat().st_size == 0:
                # Opening would write SQLite's header into it: refuse before connecting.
                raise no_state_error(str(path))
            # Root may write anywhere; os.access still says no on an immutable or read-only mount.
            return not (os.access(folder, os.W_OK) and os.access(path, os.W_OK))
        if not create:
            raise NoState.no_database_file(path)
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _os_error(error, folder) from None
    if not os.access(folder, os.W_OK):
        raise read_only_error(folder)
    return False


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to a database whose folder or file cannot be written.

    WAL readers normally create the -shm file next to the database; in a folder that cannot be
    written that fails, so without a -wal file left behind (then the main file holds everything)
    the database is opened as immutable, which needs no -shm. (A live writer always has a -wal
    file, so an immutable open only happens while nobody writes.)
    """
    wal = path.with_name(f"{path.name}-wal")
    immutable = not os.access(path.parent, os.W_OK) and not wal.exists()
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if immutable else "")
    return sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, check_same_thread=False)


def _configure_sqlite(engine: Engine, *, read_only: bool) -> None:
    """WAL so readers never block the writer; BEGIN IMMEDIATE so two writers queue, not deadlock."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not read_only:  # switching the journal mode writes the file
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers take no lock at all (WAL gives them a snapshot); a writer that took a plain
        # BEGIN could fail to upgrade its lock, so writers queue up front instead. A read-only
        # database has no writers: a plain BEGIN lets a session that only reads succeed.
        readonly = read_only or connection.get_execution_options().get(READONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


class Database:
    """A state database: an engine, a session factory and the schema.

    ``create=False`` opens only a database that already holds sweepfirst state: no folder, file
    or schema is created (for commands that read, and for `resume`).
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.create = create
        #: The SQLite file (None for PostgreSQL and in-memory SQLite).
        self.path: Path | None = None
        #: A SQLite file whose folder or file cannot be written: opened read-only.
        self.read_only = False
        parsed = _parse_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            self.path = _sqlite_file(parsed)
            if self.path is not None:
                self.read_only = _prepare_sqlite_file(self.path, create=create)
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            if self.read_only and self.path is not None:
                path = self.path
                kwargs["creator"] = lambda: _connect_read_only(path)
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine = create_engine(url, **kwargs)
        except (sa_exc.ArgumentError, ModuleNotFoundError) as error:
            raise DatabaseError(
                f"Cannot open {redact_url(url)}: {redact_secret(str(error), url)}; check --db-url."
            ) from None
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine, read_only=self.read_only)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{READONLY_OPTION: True}), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def where(self) -> str:
        """The database as a person should see it: the file, or the URL without its password."""
        return str(self.path) if self.path is not None else redact_url(self.url)

    def create_schema(self) -> None:
        """Bring the schema up to date (migrations; see sweepfirst.store.migrate).

        Without ``create``, a database that holds no sweepfirst tables is refused, not filled.
        """
        from sweepfirst.store import migrate

        with self._translate_errors():
            if not self.create and migrate.current(self.engine).state is migrate.SchemaState.EMPTY:
                raise no_state_error(self.where)
            migrate.upgrade_on_open(self.engine, shown_url=redact_url(self.url))

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
        except sa_exc.IntegrityError:
            # Not the database failing: a unique key another process wrote first. Callers catch
            # it to look again (see engine.run_driver), so it passes through unchanged.
            raise
        except sa_exc.DBAPIError as error:
            raise self.error_for(error.orig or error) from None
        except sqlite3.Error as error:
            raise self.error_for(error) from None

    def error_for(self, error: BaseException) -> DatabaseError:
        """The sentence a driver error deserves: corrupted, full, read-only or unreachable."""
        code = getattr(error, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        text = " ".join(str(error).split())  # drivers wrap their messages over several lines
        if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "not a database" in text or "malformed" in text:
            return DatabaseError(
                f"The state database {self.where} is not a readable sweepfirst database (the file is "
                "corrupted or not SQLite); restore it from a backup or pass another --state-dir."
            )
        if primary == _SQLITE_FULL or "disk is full" in text or getattr(error, "sqlstate", None) == _PG_DISK_FULL:
            return DatabaseError(
                f"The disk holding the state database {self.where} is full, so nothing more could be "
                "recorded; free some space, then continue with `sweepfirst resume`."
            )
        if (primary == _SQLITE_READONLY or "readonly database" in text) and self.path is not None:
            return read_only_error(self.path.parent)
        if primary == _SQLITE_CANTOPEN:
            return DatabaseError(
                f"The state database {self.where} cannot be opened; check that its folder exists and "
                "can be read, or pass another --state-dir."
            )
        return DatabaseError(
            f"The state database {self.where} failed: {redact_secret(text, self.url)}; "
            "check that it is reachable and not corrupted (--db-url / --state-dir)."
        )

    def dispose(self) -> None:
        self.engine.dispose()
