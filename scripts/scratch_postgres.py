#!/usr/bin/env python3
"""A throwaway PostgreSQL cluster on a loopback port, for tests and CI (no Docker, no service).

    python3 scripts/scratch_postgres.py start DIR [--port N]   # prints the database URI
    python3 scripts/scratch_postgres.py stop DIR
    python3 scripts/scratch_postgres.py check   # exit 0 if PostgreSQL's server programs are here

The cluster lives in DIR, listens on 127.0.0.1 only, asks for a password over TCP (so a wrong one
is refused, as on a real server) and has one role and one database, both named ``gemtrace``. The
password is random, made per cluster and printed only inside the URI: nothing secret is written
outside DIR. As root, PostgreSQL's programs run as the ``postgres`` user, since initdb refuses
root. Standard library only: CI calls this before any virtual environment exists.
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROLE = "gemtrace"
DATABASE = "gemtrace"


class ScratchPostgresError(RuntimeError):
    pass


def find_bin_dir() -> Path | None:
    """Where initdb, pg_ctl and psql are: PATH first, then Debian's versioned folders."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run_as() -> str | None:
    """The user PostgreSQL's programs run as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as missing:
        raise ScratchPostgresError(
            "Running as root, but there is no 'postgres' user to run PostgreSQL as "
            "(initdb refuses root). Install Debian's postgresql package, which creates it."
        ) from missing
    return "postgres"


def _reachable_by(user: str, folder: Path) -> bool:
    result = subprocess.run(["test", "-x", str(folder)], user=user, check=False)
    return result.returncode == 0


def _run(bin_dir: Path, args: list[str], user: str | None, **kwargs: object) -> str:
    result = subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        user=user,
        capture_output=True,
        text=True,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )
    if result.returncode != 0:
        raise ScratchPostgresError(
            f"{args[0]} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result.stdout


def start(directory: Path, port: int | None = None) -> str:
    """Create and start a cluster in ``directory``; the URI of its ``gemtrace`` database."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise ScratchPostgresError(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed. On Debian: "
            "apt-get install postgresql"
        )
    user = _run_as()
    port = port or free_port()
    password = secrets.token_urlsafe(18)
    data = directory / "data"
    directory.mkdir(parents=True, exist_ok=True)
    if user is not None and not _reachable_by(user, directory.parent):
        raise ScratchPostgresError(
            f"{directory.parent} cannot be entered by the {user} user; put the cluster in a "
            "folder under /tmp (e.g. mktemp -d /tmp/pg.XXXXXX)."
        )
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    directory.chmod(0o700)
    _run(
        bin_dir,
        [
            "initdb",
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-instructions",
        ],
        user,
    )
    settings = (
        "listen_addresses = '127.0.0.1'\n"
        f"port = {port}\n"
        f"unix_socket_directories = '{directory}'\n"
        "max_connections = 200\n"
        "fsync = off\n"
        "synchronous_commit = off\n"
        "full_page_writes = off\n"
    )
    with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write(settings)
    _run(
        bin_dir,
        [
            "pg_ctl",
            "-D",
            str(data),
            "-l",
            str(directory / "postgres.log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        user,
    )
    sql = (
        f"CREATE ROLE {ROLE} LOGIN PASSWORD '{password}';\n"
        f"CREATE DATABASE {DATABASE} OWNER {ROLE};\n"
    )
    _run(
        bin_dir,
        [
            "psql",
            "-h",
            str(directory),
            "-p",
            str(port),
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-d",
            "postgres",
        ],
        user,
        input=sql,
    )
    return f"postgresql://{ROLE}:{password}@127.0.0.1:{port}/{DATABASE}"


def stop(directory: Path) -> None:
    """Stop the cluster in ``directory`` at once (its data is scratch)."""
    bin_dir = find_bin_dir()
    data = directory / "data"
    if bin_dir is None or not (data / "postmaster.pid").exists():
        return
    _run(bin_dir, ["pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"], _run_as())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start_cmd = commands.add_parser("start", help="create and start a cluster; print its URI")
    start_cmd.add_argument("directory", type=Path)
    start_cmd.add_argument("--port", type=int, default=None)
    stop_cmd = commands.add_parser("stop", help="stop the cluster in DIRECTORY")
    stop_cmd.add_argument("directory", type=Path)
    commands.add_parser(
        "check", help="say where PostgreSQL's server programs are; exit 1 if absent"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            print(start(args.directory.resolve(), args.port))
        elif args.command == "stop":
            stop(args.directory.resolve())
        else:
            bin_dir = find_bin_dir()
            if bin_dir is None:
                raise ScratchPostgresError(
                    "PostgreSQL's server programs (initdb) are not installed."
                )
            print(bin_dir)
    except ScratchPostgresError as error:
        print(f"scratch_postgres: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
