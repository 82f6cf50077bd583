"""respx wiring for every HTTP path the google-genai SDK takes.

- httpx2 (the SDK's default backend): respx 0.23 patches only httpcore, so :class:`HTTPCore2Mocker`
  registers the same patching for httpcore2 under its own name.
- httpx (``GOOGLE_GENAI_HTTP_CLIENT=httpx``, or a user's own httpx client): respx's HTTPCoreMocker.
- async: the SDK sends ``client.aio`` calls through aiohttp whenever aiohttp is importable (MLflow
  depends on it), past respx. Inside :func:`intercepted` the SDK's aiohttp switch is off, so async
  calls use its httpx(2) async client, which the mockers above cover.

Every request is handed to one :class:`Handler`; a handler may return a response, or raise
:class:`respx.models.PassThrough` for requests it sends itself (recording), marked by
:data:`FORWARD_EXTENSION`, so that they reach the real transport underneath.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import httpcore2
import httpx
from respx.mocks import HTTPCoreMocker
from respx.models import PassThrough
from respx.router import Router

FORWARD_EXTENSION = "gemtrace.forward"


class HTTPCore2Mocker(HTTPCoreMocker):
    """respx's httpcore mocker, aimed at httpcore2 (under httpx2)."""

    name = "httpcore2"
    targets = [target.replace("httpcore.", "httpcore2.", 1) for target in HTTPCoreMocker.targets]

    @classmethod
    def from_sync_httpx_response(cls, httpx_response: httpx.Response, target: Any, **kwargs: Any):
        return httpcore2.Response(
            status=httpx_response.status_code,
            headers=httpx_response.headers.raw,
            content=httpx_response.stream,
            extensions=httpx_response.extensions,
        )


class Handler(Protocol):
    def handle(self, request: httpx.Request) -> httpx.Response: ...

    def ahandle(self, request: httpx.Request) -> Awaitable[httpx.Response]: ...


class _HandlerRouter(Router):
    """A respx router that gives every request to one handler, instead of matching routes."""

    def __init__(self, handler: Handler) -> None:
        super().__init__(assert_all_mocked=True, assert_all_called=False)
        self._handler = handler

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.extensions.get(FORWARD_EXTENSION):
            raise PassThrough("gemtrace forwards this request", request=request, origin=None)
        return self._handler.handle(request)

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        if request.extensions.get(FORWARD_EXTENSION):
            raise PassThrough("gemtrace forwards this request", request=request, origin=None)
        return await self._handler.ahandle(request)


_MOCKERS = (HTTPCoreMocker, HTTPCore2Mocker)
_lock = threading.Lock()
_active = 0
_saved_aiohttp: bool | None = None


@contextmanager
def intercepted(handler: Handler) -> Iterator[None]:
    """Route every SDK request made inside the block to ``handler``.

    Blocks nest and may be used from several threads: the SDK's aiohttp switch comes back when the
    last one ends.
    """
    router = _HandlerRouter(handler)
    _enter()
    for mocker in _MOCKERS:
        mocker.register(router)
        mocker.start()
    try:
        yield
    finally:
        for mocker in _MOCKERS:
            mocker.unregister(router)
            mocker.stop()
        _exit()


def _enter() -> None:
    global _active, _saved_aiohttp
    from google.genai import _api_client

    with _lock:
        if _active == 0:
            _saved_aiohttp = _api_client.has_aiohttp
            _api_client.has_aiohttp = False
        _active += 1


def _exit() -> None:
    global _active
    from google.genai import _api_client

    with _lock:
        _active -= 1
        if _active == 0 and _saved_aiohttp is not None:
            _api_client.has_aiohttp = _saved_aiohttp
