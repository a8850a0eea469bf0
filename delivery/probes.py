"""``/healthz``, ``/readyz`` and ``/metrics``."""

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from redis.exceptions import RedisError

from delivery.node import DeliveryNode
from delivery.responses import JsonResponse, TidingsRoute, error_response
from foundation.constants import ROUTED_COUNTER_KEY
from foundation.errors import StoreError

router = APIRouter(route_class=TidingsRoute)

PROBE_TIMEOUT_SECONDS = 2.0


def _node(request: Request) -> DeliveryNode:
    node: DeliveryNode = request.app.state.delivery_node
    return node


@router.get("/healthz")
async def healthz() -> JsonResponse:
    """The process is alive and serving requests."""
    return JsonResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """Ready when the store and Redis answer and the live subscription is up."""
    node = _node(request)
    problems = []
    try:
        await asyncio.wait_for(node.store.ping(), PROBE_TIMEOUT_SECONDS)
    except (StoreError, TimeoutError):
        problems.append("store")
    try:
        await asyncio.wait_for(node.redis.ping(), PROBE_TIMEOUT_SECONDS)
    except (RedisError, OSError, TimeoutError):
        problems.append("redis")
    if not node.hub.subscribed:
        problems.append("live_subscription")
    if problems:
        return error_response(503, "not_ready", "not answering: " + ", ".join(problems))
    return JsonResponse({"status": "ready"})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format; outbox figures are read from the store now."""
    node = _node(request)
    figures = await node.store.lag()
    try:
        routed = int(await node.redis.get(ROUTED_COUNTER_KEY) or 0)
    except (RedisError, OSError):
        routed = int(node.metrics.routed.value)  # keep the last known value
    node.metrics.connections.set(node.hub.connection_count)
    node.metrics.observe_outbox(figures, datetime.now(UTC), routed)
    return Response(node.metrics.render(), media_type="text/plain; version=0.0.4")
