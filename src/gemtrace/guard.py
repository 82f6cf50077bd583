"""No network in replay: a guard at the socket level.

respx answers the SDK's requests, but a replay must stay offline whatever else runs inside the
block: another HTTP client (httpx, aiohttp, requests, urllib), or a raw socket. While a replay-only
cassette is open, name lookups and connections to anything but loopback fail with
:class:`NetworkBlocked`, naming the host. Where the traces go stays reachable: the MLflow tracking
server the user configured (it may be a team server), a Databricks workspace, or a database.
"""

from __future__ import annotations

import configparser
import ipaddress
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from gemtrace.errors import GemtraceError

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
ALLOW_HOSTS_VARIABLE = "GEMTRACE_ALLOW_HOSTS"
#: Where Databricks has MLflow upload trace data, through signed URLs of the workspace's cloud.
#: The Gemini API (generativelanguage.googleapis.com) is none of them.
DATABRICKS_STORAGE = (
    "*.amazonaws.com",
    "*.blob.core.windows.net",
    "*.dfs.core.windows.net",
    "storage.googleapis.com",
)


class NetworkBlocked(GemtraceError):
    """Something inside a replay tried to reach the network."""


_lock = threading.Lock()
_active = 0
_allowed_hosts: set[str] = set()
_allowed_addresses: set[str] = set()
_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex
_original_getaddrinfo = socket.getaddrinfo


def is_loopback(host: str) -> bool:
    """A loopback name or address: traffic to it never leaves the machine."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _blocked(host: str) -> NetworkBlocked:
    return NetworkBlocked(
        f"Blocked a connection to {host}: replay is offline, and nothing inside a replay-only "
        "cassette may reach the network (only loopback, where the traces go, and the hosts in "
        f"{ALLOW_HOSTS_VARIABLE}, comma-separated, *.suffix allowed). If this "
        "request should be recorded, use a recording mode (mode='once' or 'new_episodes') with "
        "a key; if it is not a Gemini call, make it outside the cassette block."
    )


def _check_address(address: Any, family: int) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
        return  # Unix sockets and the like never leave the machine
    host = str(address[0])
    if not is_loopback(host) and host not in _allowed_addresses:
        raise _blocked(host)


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    _check_address(address, self.family)
    return _original_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    _check_address(address, self.family)
    return _original_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or is_loopback(str(name)):
        return _original_getaddrinfo(host, *args, **kwargs)
    if _name_allowed(str(name)):
        results = _original_getaddrinfo(host, *args, **kwargs)
        _allowed_addresses.update(str(entry[4][0]) for entry in results)
        return results
    raise _blocked(str(name))


def _name_allowed(name: str) -> bool:
    name = name.lower().rstrip(".")
    if name in _allowed_hosts or name in _allowed_addresses:
        return True
    return any(
        pattern.startswith("*.") and name.endswith(pattern[1:]) for pattern in _allowed_hosts
    )


def allowed_destinations() -> set[str]:
    """Names and ``*.suffix`` patterns replay may reach: where traces go, and what users add."""
    uri = _tracking_uri()
    hosts = {tracking_server_host(uri)}
    if uri.partition(":")[0].lower() == "databricks":
        hosts.update(DATABRICKS_STORAGE)
    added = os.environ.get(ALLOW_HOSTS_VARIABLE, "")
    hosts.update(part.strip() for part in added.split(","))
    return {host.lower() for host in hosts if host}


def _tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        try:
            import mlflow

            uri = mlflow.get_tracking_uri()
        except Exception:
            return ""
    return uri or ""


def tracking_server_host(uri: str | None = None) -> str | None:
    """The host that receives traces: an MLflow server, a Databricks workspace or a database."""
    uri = _tracking_uri() if uri is None else uri
    scheme = uri.partition(":")[0].lower()
    if scheme == "databricks":
        return databricks_host(uri)
    if scheme in ("file", "sqlite", ""):
        return None
    return urlsplit(uri).hostname


def databricks_host(uri: str = "databricks") -> str | None:
    """The workspace host a ``databricks`` or ``databricks://PROFILE`` tracking URI reaches.

    Read as the Databricks tools read it (``DATABRICKS_HOST``, else the profile in
    ``~/.databrickscfg``) without asking the network: the SDK's own resolution fetches host
    metadata first, which on a closed network waits five minutes.
    """
    host = os.environ.get("DATABRICKS_HOST")
    if not host:
        profile = uri.partition("://")[2].split(":")[0] or os.environ.get(
            "DATABRICKS_CONFIG_PROFILE", "DEFAULT"
        )
        config_file = os.environ.get("DATABRICKS_CONFIG_FILE", "~/.databrickscfg")
        parser = configparser.ConfigParser()
        try:
            parser.read(os.path.expanduser(config_file))
            host = parser.get(profile, "host", fallback=None)
        except configparser.Error:
            host = None
    if not host:
        return None
    return urlsplit(host if "://" in host else f"https://{host}").hostname


@contextmanager
def offline(allow: tuple[str, ...] = ()) -> Iterator[None]:
    """Block every non-loopback lookup and connection in this process for the block."""
    global _active
    hosts = {h.lower() for h in allow if h} | allowed_destinations()
    with _lock:
        if _active == 0:
            _allowed_hosts.clear()
            _allowed_addresses.clear()
            socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
            socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
            socket.getaddrinfo = _guarded_getaddrinfo
        _active += 1
        _allowed_hosts.update(hosts)
        for host in hosts:
            try:
                ipaddress.ip_address(host)
                _allowed_addresses.add(host)
            except ValueError:
                pass
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                socket.socket.connect = _original_connect  # type: ignore[method-assign]
                socket.socket.connect_ex = _original_connect_ex  # type: ignore[method-assign]
                socket.getaddrinfo = _original_getaddrinfo
