"""Check a database tracking store before an MLflow server is started on it.

MLflow reports a store it cannot open as a long traceback in its log, after its workers have
started. One connection made here first turns the usual mistakes (a driver that is not
installed, a wrong password, a database that is down or does not exist) into one line that says
what to do. The password never appears in what is raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from gemtrace.errors import StoreUnavailable
from gemtrace.scrub import hide_password

#: Database families MLflow's SQL store supports, by the names people know them by.
DATABASES = {
    "sqlite": "SQLite",
    "postgresql": "PostgreSQL",
    "mysql": "MySQL",
    "mssql": "SQL Server",
}
#: The driver pinned in requirements.txt, by database.
PINNED_DRIVERS = {"postgresql": "psycopg[binary]"}


@dataclass(frozen=True)
class StoreUri:
    """A database URI split into what messages name: database family, driver, host, database."""

    uri: str
    family: str
    driver: str | None
    hostname: str
    port: int | None
    database: str

    @property
    def host(self) -> str:
        return f"{self.hostname}:{self.port}" if self.port else self.hostname

    @property
    def shown(self) -> str:
        return hide_password(self.uri)

    @property
    def name(self) -> str:
        return DATABASES[self.family]

    @property
    def is_sqlite(self) -> bool:
        return self.family == "sqlite"


def parse_store_uri(uri: str) -> StoreUri:
    """Split ``uri``, or say which URIs ``gemtrace serve`` accepts."""
    scheme = uri.partition("://")[0] if "://" in uri else ""
    family, _, driver = scheme.partition("+")
    if family not in DATABASES:
        shown = repr(hide_password(uri)) if "://" in uri else "The value given"
        raise StoreUnavailable(
            f"{shown} is not a database URI. gemtrace serve runs MLflow on a SQL "
            "database: postgresql://USER:PASSWORD@HOST:PORT/DATABASE, mysql://..., or "
            "sqlite:///ABSOLUTE/PATH.db (leave it out for the SQLite file in .gemtrace/)."
        )
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        raise StoreUnavailable(
            f"The port in {hide_password(uri)} is not a number; write HOST:PORT, e.g. "
            "127.0.0.1:5432."
        ) from None
    hostname = parts.hostname or "localhost"
    return StoreUri(uri, family, driver or None, hostname, port, parts.path.lstrip("/"))


def check_store(uri: str, timeout: float = 5.0) -> StoreUri:
    """Open one connection to the database ``uri`` names; raise StoreUnavailable if it fails."""
    store = parse_store_uri(uri)
    if store.is_sqlite:
        return store
    import sqlalchemy
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    from sqlalchemy.pool import NullPool

    connect_args = {"connect_timeout": max(1, int(timeout))} if store.family == "postgresql" else {}
    try:
        engine = sqlalchemy.create_engine(uri, connect_args=connect_args, poolclass=NullPool)
    except ModuleNotFoundError as missing:
        raise StoreUnavailable(_missing_driver(store, missing.name or "its driver")) from None
    except NoSuchModuleError:
        raise StoreUnavailable(
            f"SQLAlchemy has no driver {store.driver!r} for {store.name} (in {store.shown}). "
            f"Leave the driver out ({store.family}://...) to use the default one."
        ) from None
    except ArgumentError as error:
        raise StoreUnavailable(f"Cannot read the store URI {store.shown}: {error}") from None
    try:
        with engine.connect():
            pass
    except Exception as error:  # each driver raises its own types; the message is what differs
        raise StoreUnavailable(_connection_problem(store, _driver_message(error))) from None
    finally:
        engine.dispose()
    return store


def _missing_driver(store: StoreUri, module: str) -> str:
    pinned = PINNED_DRIVERS.get(store.family)
    fix = (
        f"run `make venv` (requirements.txt pins {pinned}), or pip install {pinned} into the "
        "environment that runs gemtrace"
        if pinned and store.driver is None
        else f"pip install the package that provides {module!r} into the environment that runs "
        "gemtrace"
    )
    return (
        f"The {store.name} driver is not installed: Python cannot import {module!r}, which "
        f"{store.shown} needs. To fix it, {fix}."
    )


def _driver_message(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(original).strip().splitlines() if line.strip()]
    return " ".join(lines) if lines else type(original).__name__


def _connection_problem(store: StoreUri, message: str) -> str:
    """One line for what went wrong; the whole driver message is read, as a driver that tried
    several addresses reports each (a refused password first, a refused connection last)."""
    text = message.lower()
    where = f"{store.name} at {store.host}"
    if "password authentication failed" in text or "access denied" in text:
        return (
            f"{where} refused the user name or password in {store.shown}. Check them (a password "
            "with @, / or : must be URL-encoded; PGPASSWORD or ~/.pgpass serve when the URI has "
            "none)."
        )
    if "no password supplied" in text:
        return (
            f"{where} asks for a password and {store.shown} has none. Add it to the URI "
            "(postgresql://USER:PASSWORD@HOST/DB), or set PGPASSWORD or ~/.pgpass."
        )
    if "does not exist" in text and "database" in text:
        return (
            f"{where} is up, but has no database {store.database!r}. Create it (for PostgreSQL: "
            f"createdb -h {store.hostname} -p {store.port or 5432} {store.database}), or name "
            "an existing one."
        )
    if "connection refused" in text or "could not connect" in text:
        return (
            f"Nothing answers at {store.host}: the {store.name} server is down or listens "
            f"elsewhere. Start it (e.g. pg_ctlcluster / systemctl start postgresql), or fix the "
            f"host and port in {store.shown}."
        )
    if "timeout" in text or "timed out" in text:
        return (
            f"{where} did not answer within the connect timeout: check the host and port in "
            f"{store.shown} and any firewall between."
        )
    if "resolve" in text or "translate host name" in text or "name or service" in text:
        return f"The host in {store.shown} cannot be found: check its spelling."
    first = hide_password(message.split(". ")[0])[:300]
    return f"Could not connect to {where} ({store.shown}): {first}"
