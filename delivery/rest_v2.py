"""REST of protocol v2: marks, counts, the stream and its acks (listings: ``listing_v2``).

Every query is scoped to the caller (the token's ``sub``); the stream is read by ``pos``.
"""

from datetime import UTC, datetime
from typing import Any, Final

import orjson
from fastapi import APIRouter, Request

from delivery.frames import BadFrame, parse_device, parse_limit, parse_since
from delivery.frames_v2 import parse_mark, stream_item_fields
from delivery.listing_v2 import head_fields, query
from delivery.responses import ApiError, JsonResponse, TidingsRoute
from delivery.rest import MAX_BODY_BYTES, NodeDep, PrincipalDep
from delivery.state_signal import publish_changes
from foundation.constants import MAX_SEQ
from outbox.records import AckOutcome
from outbox.stream import MarkOutcome

router = APIRouter(route_class=TidingsRoute)

# A mark names up to 500 seqs of up to 19 digits.
MAX_MARK_BODY_BYTES: Final = 16 * 1024


async def _json_body(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    too_large = ApiError(413, "body_too_large", f"bodies are limited to {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "the body must be a JSON object") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return parsed


@router.post("/notifications/state")
async def mark(request: Request, user: PrincipalDep, node: NodeDep) -> JsonResponse:
    """Mark notifications read, unread, archived or unarchived: by ``seqs`` or ``upto``.

    200 with the change appended (``null`` when nothing changed) and the counts after it;
    409 ``seq_above_head`` stores nothing. The change reaches every device of the user.
    """
    try:
        wanted = parse_mark(await _json_body(request, MAX_MARK_BODY_BYTES))
    except BadFrame as error:
        raise ApiError(400, error.code, error.message) from None
    result = await node.store.apply_mark(user.user_id, wanted, datetime.now(UTC))
    if result.outcome is MarkOutcome.ABOVE_HEAD:
        raise ApiError(409, result.outcome.value, "the mark names a seq above the newest one")
    if result.change is not None:
        await publish_changes(node.broker, [result.change])
    change = stream_item_fields(result.change) if result.change is not None else None
    return JsonResponse({"change": change, **head_fields(result.head)})


@router.get("/notifications/counts")
async def counts(user: PrincipalDep, node: NodeDep) -> JsonResponse:
    """``{"head": S, "pos": P, "counts": {"unread": U, "unarchived": A}}``, read together."""
    return JsonResponse(head_fields(await node.store.stream_head(user.user_id)))


@router.get("/stream")
async def stream(request: Request, user: PrincipalDep, node: NodeDep) -> JsonResponse:
    """Stream entries with ``pos > since`` in order, as the v2 WebSocket frames them."""
    since = query(parse_since, request.query_params.get("since")) or 0
    limit = query(parse_limit, request.query_params.get("limit"))
    head = await node.store.stream_head(user.user_id)
    items = await node.store.read_stream_after(user.user_id, since, limit + 1)
    page, has_more = items[:limit], len(items) > limit
    continues = bool(page) and page[0].pos == since + 1
    recovered = since <= head.pos and (since == head.pos or continues)
    return JsonResponse(
        {
            "items": [stream_item_fields(item) for item in page],
            **head_fields(head),
            "next_since": page[-1].pos if page else min(since, head.pos),
            "has_more": has_more,
            "recovered": recovered,
        }
    )


_ACK_MESSAGES: Final = {
    AckOutcome.STALE: "the ack is below the stored one",
    AckOutcome.ABOVE_HEAD: "the ack is above the newest position",
}


@router.post("/stream/ack")
async def stream_ack(request: Request, user: PrincipalDep, node: NodeDep) -> JsonResponse:
    """Store a cumulative stream ack ``{"pos": P, "device": D}``; 409 as v1's acks."""
    body = await _json_body(request)
    pos = body.get("pos")
    if not isinstance(pos, int) or isinstance(pos, bool) or not 0 <= pos <= MAX_SEQ:
        raise ApiError(400, "invalid_ack", "pos must be an integer from 0 to 2**63-1")
    device_raw = body.get("device")
    if device_raw is not None and not isinstance(device_raw, str):
        raise ApiError(400, "invalid_device", "device must be a string")
    device = query(parse_device, device_raw)
    outcome = await node.store.record_stream_ack(user.user_id, device, pos)
    if outcome in _ACK_MESSAGES:
        raise ApiError(409, outcome.value, _ACK_MESSAGES[outcome])
    return JsonResponse({"acked": pos, "device": device})


@router.get("/stream/cursor")
async def stream_cursor(request: Request, user: PrincipalDep, node: NodeDep) -> JsonResponse:
    """``{"acked": A, "pos": P, "head": S, "counts": ...}``: this device's stream ack and
    the stream head."""
    device = query(parse_device, request.query_params.get("device"))
    head = await node.store.stream_head(user.user_id)
    acked = await node.store.stream_acked(user.user_id, device)
    return JsonResponse({"acked": acked, **head_fields(head)})
