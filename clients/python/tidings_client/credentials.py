"""From the application's credentials callbacks to what a socket and a REST call need.

A socket needs the ``/ws`` URL with ``since`` and ``device`` and, with ``auth="ticket"``, a
ticket (from ``get_ticket``, else bought over REST with ``get_token``); with
``auth="token"``, an ``Authorization: Bearer`` header instead. A REST call (gap fill, ticket)
needs a token. A callback that raises becomes :class:`TidingsClientError` ``auth_failed``;
a failed ticket purchase raises what :mod:`tidings_client.rest` raises (``status`` 401 or
403 included, for the caller to decide).
"""

from collections.abc import Awaitable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import httpx

from .errors import TidingsClientError
from .gap import Page
from .jwt import token_expiry
from .models import AuthReason, StreamEntry
from .options import ClientOptions, CredentialsCallback
from .rest import RestApi


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to open one socket."""

    url: str
    headers: dict[str, str]
    token_exp: float | None
    """``exp`` of the token the socket was opened with, when one was used."""


async def resolve[T](value: T | Awaitable[T]) -> T:
    """``value``, awaited when it is awaitable (callbacks may be plain or async)."""
    if isinstance(value, Awaitable):
        return await value
    return value


class Credentials:
    """The credentials callbacks of one client, and the HTTP client its REST calls use.

    ``url`` is the service's base URL without a trailing slash. ``http`` is the
    application's (left open) or None: then one is made on first use and closed by
    :meth:`aclose`. Raises ``ValueError`` when neither callback is given or
    ``auth="token"`` lacks ``get_token``.
    """

    def __init__(
        self,
        url: str,
        get_token: CredentialsCallback | None,
        get_ticket: CredentialsCallback | None,
        options: ClientOptions,
        http: httpx.AsyncClient | None,
    ) -> None:
        if get_token is None and get_ticket is None:
            raise ValueError("TidingsClient needs get_token or get_ticket")
        if options.auth == "token" and get_token is None:
            raise ValueError('auth="token" needs get_token')
        self._url = url
        self._ws_url = options.ws_url or _ws_base(url)
        self._device = options.device
        self._protocol = options.protocol
        self._auth = options.auth
        self._get_token = get_token
        self._get_ticket = get_ticket
        self._http = http
        self._owns_http = http is None

    @property
    def has_token(self) -> bool:
        """True with ``get_token``: gaps can be filled over REST and tokens refreshed."""
        return self._get_token is not None

    async def target(self, reason: AuthReason, since: int | None) -> Target:
        """The URL and headers of a new socket resuming after ``since`` (None: the server
        picks the start)."""
        params: dict[str, str] = {"v": "2"} if self._protocol == 2 else {}
        if since is not None:
            params["since"] = str(since)
        if self._device is not None:
            params["device"] = self._device
        headers: dict[str, str] = {}
        token_exp: float | None = None
        if self._auth == "token":
            token = await self.token(reason)
            token_exp = token_expiry(token)
            headers["Authorization"] = f"Bearer {token}"
        elif self._get_ticket is not None:
            params["ticket"] = await resolve(self._get_ticket(reason))
        else:
            token = await self.token(reason)
            token_exp = token_expiry(token)
            params["ticket"] = await self._rest().ticket(token)
        query = f"?{urlencode(params)}" if params else ""
        return Target(self._ws_url + query, headers, token_exp)

    async def token(self, reason: AuthReason) -> str:
        """A token from ``get_token``; raises ``auth_failed`` without one or when it raises."""
        if self._get_token is None:
            raise TidingsClientError("auth_failed", "no get_token callback")
        try:
            return await resolve(self._get_token(reason))
        except Exception as error:
            raise TidingsClientError("auth_failed", f"get_token failed: {error!r}") from error

    async def read_page(self, since: int, limit: int) -> Page:
        """One page of the stream over REST, with a token for ``fetch``: notifications
        (protocol v1) or stream entries (v2)."""
        token = await self.token("fetch")
        if self._protocol == 2:
            return await self._rest().stream_page(token, since, limit)
        page = await self._rest().page(token, since, limit)
        items = [StreamEntry(note.seq, notification=note) for note in page.items]
        return replace(page, items=items)

    async def mark(self, fields: dict[str, Any]) -> None:
        """Protocol v2: a mark over REST, with a token for ``fetch``."""
        await self._rest().mark(await self.token("fetch"), fields)

    async def aclose(self) -> None:
        """Close the HTTP client made here, if any; a later call makes a new one."""
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def _rest(self) -> RestApi:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)
        return RestApi(self._url, self._http)


def _ws_base(url: str) -> str:
    """``http(s)://host/base`` -> ``ws(s)://host/base/ws``."""
    if url.startswith("https://"):
        url = "wss://" + url.removeprefix("https://")
    elif url.startswith("http://"):
        url = "ws://" + url.removeprefix("http://")
    return url + "/ws"
