"""Listings of notifications with their state (protocol v2): ``GET /notifications?v=2``.

Filters: ``read`` and ``archived`` (true or false), ``retracted`` (true, false or any; false
when absent), ``event`` (repeated or comma-separated). Cursors stay seq-based: ``since`` and
``next_since`` are seqs, as in v1.
"""

import re
from typing import Any, Final

from fastapi import Request

from delivery.frames import BadQuery, parse_limit, parse_since
from delivery.frames_v2 import counts_fields, item_fields
from delivery.node import DeliveryNode
from delivery.responses import ApiError, JsonResponse
from foundation.constants import EVENT_NAME_PATTERN
from outbox.stream import ItemFilter, StreamHead

# Listing parameters that only v2 understands; v1 listings refuse them rather than ignore them.
FILTERS: Final = ("read", "archived", "retracted", "event")
_BOOLEANS: Final = {"true": True, "false": False}
_MAX_EVENTS: Final = 20
_EVENT: Final = re.compile(EVENT_NAME_PATTERN)


def query(parse: Any, raw: str | None) -> Any:
    try:
        return parse(raw)
    except BadQuery as error:
        raise ApiError(400, error.code, error.message) from None


def _flag(request: Request, name: str, default: bool | None) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw == "any" and name == "retracted":
        return None
    if raw not in _BOOLEANS:
        raise ApiError(400, f"invalid_{name}", f"{name} must be true or false")
    return _BOOLEANS[raw]


def _events(request: Request) -> tuple[str, ...]:
    names = [n for raw in request.query_params.getlist("event") for n in raw.split(",") if n]
    if len(names) > _MAX_EVENTS:
        raise ApiError(400, "invalid_event", f"at most {_MAX_EVENTS} events")
    if not all(_EVENT.fullmatch(name) for name in names):
        raise ApiError(400, "invalid_event", f"events must match {EVENT_NAME_PATTERN}")
    return tuple(dict.fromkeys(names))


def item_filter(request: Request) -> ItemFilter:
    """The filter of a v2 listing: ``read``, ``archived`` (true/false), ``retracted``
    (true/false/any, default false) and ``event`` (repeated or comma-separated)."""
    return ItemFilter(
        read=_flag(request, "read", None),
        archived=_flag(request, "archived", None),
        retracted=_flag(request, "retracted", False),
        events=_events(request),
    )


def refuse_filters_in_v1(request: Request) -> None:
    """400 ``v2_parameter`` for a v1 listing that names a v2 filter."""
    named = [name for name in FILTERS if name in request.query_params]
    if named:
        raise ApiError(400, "v2_parameter", f"{', '.join(named)} needs v=2")


def head_fields(head: StreamHead) -> dict[str, object]:
    return {"head": head.seq, "pos": head.pos, "counts": counts_fields(head.counts)}


async def list_items(request: Request, user_id: str, node: DeliveryNode) -> JsonResponse:
    """``GET /notifications?v=2``: notifications with state, filtered, seq cursors.

    ``recovered`` is false when ``since`` is above the head or the seq after it is gone.
    """
    since = query(parse_since, request.query_params.get("since")) or 0
    limit = query(parse_limit, request.query_params.get("limit"))
    chosen = item_filter(request)
    head = await node.store.stream_head(user_id)
    items = await node.store.list_items(user_id, since, limit + 1, chosen)
    page, has_more = items[:limit], len(items) > limit
    first = await node.store.read_inbox_after(user_id, since, 1) if since < head.seq else []
    recovered = since <= head.seq and (since == head.seq or first[0].seq == since + 1)
    return JsonResponse(
        {
            "items": [item_fields(item) for item in page],
            **head_fields(head),
            "next_since": page[-1].entry.seq if page else min(since, head.seq),
            "has_more": has_more,
            "recovered": recovered,
        }
    )
