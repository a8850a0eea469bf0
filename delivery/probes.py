"""``/healthz``, ``/readyz`` and ``/metrics``."""

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from delivery.node import DeliveryNode
from delivery.responses import JsonResponse, TidingsRoute, error_response
from foundation.constants import ROUTED_COUNTER_KEY
from foundation.errors import SignalUnavailable, StoreError

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
    """Ready when the store answers and takes writes, Redis answers and the live subscription
    is up; otherwise 503 ``not_ready``, the message naming each check that failed and why."""
    node = _node(request)
    checks = await asyncio.gather(_store_problem(node), _redis_problem(node))
    problems = [problem for problem in checks if problem is not None]
    if not node.hub.subscribed:
        problems.append("live subscription: down")
    if problems:
        return error_response(503, "not_ready", "not ready: " + "; ".join(problems))
    return JsonResponse({"status": "ready"})


async def _store_problem(node: DeliveryNode) -> str | None:
    """Why the store is not usable (its own words: the cause and the path), or None."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            await node.store.ping()
            await node.store.check_writable()
    except TimeoutError:
        return f"store: no answer within {PROBE_TIMEOUT_SECONDS:g} s"
    except StoreError as error:
        return f"store: {error}"
    return None


async def _redis_problem(node: DeliveryNode) -> str | None:
    """Why the broker (Redis) is not usable (no host names), or None."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            await node.broker.ping()
    except TimeoutError:
        return f"redis: no answer within {PROBE_TIMEOUT_SECONDS:g} s"
    except SignalUnavailable as error:
        return f"redis: not answering ({error})"
    return None


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format; outbox figures are read from the store now."""
    node = _node(request)
    figures = await node.store.lag()
    try:
        routed = await node.broker.counter(ROUTED_COUNTER_KEY)
    except SignalUnavailable:
        routed = int(node.metrics.routed.value)  # keep the last known value
    node.metrics.connections.set(node.hub.connection_count)
    node.metrics.observe_outbox(figures, datetime.now(UTC), routed)
    return Response(node.metrics.render(), media_type="text/plain; version=0.0.4")
