"""The REST calls the client makes: ``POST /ws/ticket`` and ``GET /notifications``; with
protocol v2, ``GET /stream`` and ``POST /notifications/state``.

Every failure raises :class:`TidingsClientError` with the server's stable ``code`` (or
``ticket_failed`` / ``gap_fill_failed`` when the server gave none) and the HTTP ``status``.
"""

from typing import Any

import httpx

from .errors import TidingsClientError
from .frames import parse_change, parse_notification
from .gap import Page
from .models import StreamEntry


class RestApi:
    """``base`` is the service's http(s) URL (e.g. ``https://host/tidings``)."""

    def __init__(self, base: str, http: httpx.AsyncClient) -> None:
        self._base = base.rstrip("/")
        self._http = http

    async def ticket(self, token: str) -> str:
        """A single-use ticket for ``/ws?ticket=``, bought with ``token``."""
        body = await self._call("POST", "/ws/ticket", token, {}, "ticket_failed")
        ticket = body.get("ticket")
        if not isinstance(ticket, str) or not ticket:
            raise TidingsClientError("ticket_failed", "the ticket response has no ticket")
        return ticket

    async def page(self, token: str, since: int, limit: int) -> Page:
        """One page of the stream after ``since``."""
        params = {"since": str(since), "limit": str(limit)}
        body = await self._call("GET", "/notifications", token, params, "gap_fill_failed")
        raw_items, head = body.get("items"), body.get("head")
        if not isinstance(raw_items, list) or type(head) is not int:
            raise TidingsClientError("gap_fill_failed", "the notifications response is malformed")
        items = [parse_notification(raw) if isinstance(raw, dict) else None for raw in raw_items]
        found = [item for item in items if item is not None]
        if len(found) != len(items):
            raise TidingsClientError("gap_fill_failed", "a notification item is malformed")
        return Page(found, head, body.get("has_more") is True, body.get("recovered") is not False)

    async def stream_page(self, token: str, since: int, limit: int) -> Page:
        """Protocol v2: one page of the stream after position ``since`` (items are
        :class:`StreamEntry`)."""
        params = {"since": str(since), "limit": str(limit)}
        body = await self._call("GET", "/stream", token, params, "gap_fill_failed")
        raw_items, head = body.get("items"), body.get("pos")
        if not isinstance(raw_items, list) or type(head) is not int:
            raise TidingsClientError("gap_fill_failed", "the stream response is malformed")
        items = [parse_entry(raw) if isinstance(raw, dict) else None for raw in raw_items]
        found = [item for item in items if item is not None]
        if len(found) != len(items):
            raise TidingsClientError("gap_fill_failed", "a stream item is malformed")
        return Page(found, head, body.get("has_more") is True, body.get("recovered") is not False)

    async def mark(self, token: str, fields: dict[str, Any]) -> None:
        """Protocol v2: ``POST /notifications/state`` with a mark's fields."""
        await self._call("POST", "/notifications/state", token, {}, "mark_failed", fields)

    async def _call(
        self,
        method: str,
        path: str,
        token: str,
        params: dict[str, str],
        fallback: str,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            response = await self._http.request(
                method, self._base + path, params=params, headers=headers, json=body
            )
        except httpx.HTTPError as error:
            raise TidingsClientError(fallback, f"{method} {path} failed: {error!r}") from error
        body = _json(response)
        if response.is_error:
            code, message = body.get("code"), body.get("message")
            raise TidingsClientError(
                code if isinstance(code, str) else fallback,
                message if isinstance(message, str) else f"HTTP {response.status_code}",
                status=response.status_code,
            )
        return body


def parse_entry(fields: dict[str, Any]) -> StreamEntry | None:
    """A v2 stream item (a frame's fields) as an entry; None when malformed."""
    if fields.get("type") == "state":
        change = parse_change(fields)
        return None if change is None else StreamEntry(change.pos, change=change)
    notification = parse_notification(fields)
    if notification is None or notification.pos is None:
        return None
    return StreamEntry(notification.pos, notification=notification)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
