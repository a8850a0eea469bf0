"""REST: catch-up, acks, cursor and WebSocket tickets. Every query is scoped to the caller.

The user id comes only from the verified token; no endpoint takes a user id from the client.
"""

import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request

from delivery import listing_v2
from delivery.auth import AuthFailed, Principal, TokenRevoked
from delivery.frames import BadQuery, notification_fields, parse_device, parse_limit, parse_since
from delivery.frames_v2 import parse_version
from delivery.node import DeliveryNode
from delivery.rate_limits import Budget
from delivery.responses import ApiError, JsonResponse, TidingsRoute
from foundation.constants import MAX_SEQ
from outbox.records import AckOutcome

MAX_BODY_BYTES = 4096

router = APIRouter(route_class=TidingsRoute)


def delivery_node(request: Request) -> DeliveryNode:
    """The app's delivery node (set up by its lifespan)."""
    node: DeliveryNode = request.app.state.delivery_node
    return node


NodeDep = Annotated[DeliveryNode, Depends(delivery_node)]


def bearer_token(request: Request) -> str:
    """The token of an ``Authorization: Bearer`` header; 401 ``token_missing`` otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "token_missing", "an Authorization: Bearer token is required")
    return token.strip()


async def authenticate(token: str, node: DeliveryNode) -> Principal:
    """Verify a token: 401 with the verifier's code, 403 ``token_revoked``."""
    try:
        return await node.verifier.verify(token, time.time())
    except AuthFailed as error:
        raise ApiError(401, error.code, str(error)) from None
    except TokenRevoked:
        raise ApiError(403, "token_revoked", "the token has been revoked") from None


async def spend(node: DeliveryNode, budget: Budget, user: Principal) -> None:
    """Spend one unit of the caller's ``budget``; 429 ``rate_limited`` when it is spent."""
    retry_after = await node.rate_limits.spend(budget, user.user_id)
    if retry_after is not None:
        message = f"too many requests; retry in {retry_after:.0f} s"
        raise ApiError(429, "rate_limited", message, {"Retry-After": f"{retry_after:.0f}"})


async def principal(request: Request, node: NodeDep) -> Principal:
    """The caller, from the Bearer token, within the caller's REST request rate."""
    user = await authenticate(bearer_token(request), node)
    await spend(node, Budget.REST, user)
    return user


PrincipalDep = Annotated[Principal, Depends(principal)]


def _query(parse: Any, raw: str | None) -> Any:
    try:
        return parse(raw)
    except BadQuery as error:
        raise ApiError(400, error.code, str(error)) from None


@router.get("/notifications")
async def list_notifications(request: Request, user: PrincipalDep, node: NodeDep) -> JsonResponse:
    """Items with ``seq > since`` in order; ``recovered`` false when some were trimmed.

    With ``v=2``, the items carry their state and may be filtered (``delivery.listing_v2``).
    """
    if _query(parse_version, request.query_params.get("v")) == 2:
        return await listing_v2.list_items(request, user.user_id, node)
    listing_v2.refuse_filters_in_v1(request)
    since = _query(parse_since, request.query_params.get("since")) or 0
    limit = _query(parse_limit, request.query_params.get("limit"))
    head = await node.store.head(user.user_id)
    entries = await node.store.read_inbox_after(user.user_id, since, limit + 1)
    page, has_more = entries[:limit], len(entries) > limit
    recovered = since <= head and (since == head or (bool(page) and page[0].seq == since + 1))
    return JsonResponse(
        {
            "items": [notification_fields(entry) for entry in page],
            "head": head,
            "next_since": page[-1].seq if page else min(since, head),
            "has_more": has_more,
            "recovered": recovered,
        }
    )


@router.post("/notifications/ack")
async def ack(request: Request, user: PrincipalDep, node: NodeDep) -> JsonResponse:
    """Store a cumulative ack; 409 ``ack_stale`` / ``ack_above_head`` store nothing."""
    body = await _json_body(request)
    seq = body.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
        raise ApiError(400, "invalid_ack", "seq must be an integer from 0 to 2**63-1")
    device_raw = body.get("device")
    if device_raw is not None and not isinstance(device_raw, str):
        raise ApiError(400, "invalid_device", "device must be a string")
    device = _query(parse_device, device_raw)
    outcome = await node.store.record_ack(user.user_id, device, seq)
    if outcome in (AckOutcome.STALE, AckOutcome.ABOVE_HEAD):
        raise ApiError(409, outcome.value, _ACK_MESSAGES[outcome])
    return JsonResponse({"acked": seq, "device": device})


_ACK_MESSAGES = {
    AckOutcome.STALE: "the ack is below the stored one",
    AckOutcome.ABOVE_HEAD: "the ack is above the newest seq",
}


@router.get("/notifications/cursor")
async def cursor(request: Request, user: PrincipalDep, node: NodeDep) -> JsonResponse:
    """``{"head": H, "acked": A, "unread": U}`` for one device.

    ``unread`` counts the retained entries above the device's ack: what the client can still
    fetch (``head - acked`` until retention trims some).
    """
    device = _query(parse_device, request.query_params.get("device"))
    head = await node.store.head(user.user_id)
    acked = await node.store.acked(user.user_id, device)
    unread = await node.store.count_after(user.user_id, acked)
    return JsonResponse({"head": head, "acked": acked, "unread": unread})


@router.post("/ws/ticket")
async def ticket(user: PrincipalDep, node: NodeDep) -> JsonResponse:
    """A single-use ticket for ``/ws?ticket=``, so the token stays out of URLs."""
    await spend(node, Budget.TICKET, user)
    issued = await node.tickets.issue(user)
    return JsonResponse({"ticket": issued, "expires_in": node.settings.ticket_ttl_seconds})


async def _json_body(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "body_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "the body must be a JSON object") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return parsed
