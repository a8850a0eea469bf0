"""A client wired to the fakes of :mod:`client_fakes` (scripted server, manual clock, REST
through httpx's MockTransport), recording everything it tells the application."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from client_fakes import FakeServer, FakeSocket, ManualClock, settle
from client_server import token
from tidings_client import (
    AckPolicy,
    AuthReason,
    Broadcast,
    ClientOptions,
    CursorStore,
    Notification,
    ResyncInfo,
    Runtime,
    TidingsClient,
    TidingsClientError,
)
from tidings_client.options import Handler

PageHandler = Callable[[int, int], Awaitable[httpx.Response]]
# Small ack batches, so that batching shows within a few notifications.
OPTIONS = ClientOptions(acks=AckPolicy(max_delay=0.1, max_items=3))


async def no_pages(_since: int, _limit: int) -> httpx.Response:
    return httpx.Response(500, json={"code": "boom", "message": "no pages here"})


def page(
    items: list[dict[str, Any]], *, head: int | None = None, recovered: bool = True
) -> httpx.Response:
    last = items[-1]["seq"] if items else 0
    body = {
        "items": items,
        "head": last if head is None else head,
        "next_since": last,
        "has_more": False,
        "recovered": recovered,
    }
    return httpx.Response(200, json=body)


@dataclass
class Harness:
    """A client wired to fakes, and everything it told the application."""

    server: FakeServer = field(default_factory=FakeServer)
    clock: ManualClock = field(default_factory=ManualClock)
    received: list[int] = field(default_factory=list)
    errors: list[TidingsClientError] = field(default_factory=list)
    resyncs: list[ResyncInfo] = field(default_factory=list)
    broadcasts: list[str] = field(default_factory=list)
    reasons: list[AuthReason] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    pages: PageHandler = no_pages
    tickets: int = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/ws/ticket"):
            self.tickets += 1
            return httpx.Response(200, json={"ticket": f"ticket-{self.tickets}", "expires_in": 30})
        if request.url.path.endswith("/notifications/state"):  # protocol v2 marks
            return httpx.Response(200, json={"change": None, "head": 0, "pos": 0})
        params = request.url.params
        return await self.pages(int(params["since"]), int(params["limit"]))

    def get_token(self, reason: AuthReason) -> str:
        self.reasons.append(reason)
        # Tokens expire an hour after the manual clock's now.
        return token("alice", ttl=3600 + self.clock.now - time.time())

    def on_notification(self, notification: Notification) -> None:
        self.received.append(notification.seq)

    def on_broadcast(self, broadcast: Broadcast) -> None:
        self.broadcasts.append(broadcast.event)

    def client(
        self,
        http: httpx.AsyncClient,
        *,
        store: CursorStore | None = None,
        on_notification: Handler[Notification] | None = None,
        **options: Any,
    ) -> TidingsClient:
        """A client on the fakes; ``options`` are :class:`ClientOptions` fields."""
        return TidingsClient(
            "http://tidings.test/base/",
            get_token=self.get_token,
            store=store,
            on_notification=on_notification or self.on_notification,
            on_broadcast=self.on_broadcast,
            on_resync=self.resyncs.append,
            on_error=self.errors.append,
            options=replace(OPTIONS, **options),
            runtime=Runtime(
                connect=self.server.connect,
                http=http,
                clock=self.clock,
                sleep=self.clock.sleep,
                random=lambda: 0.5,
            ),
        )


async def started(client: TidingsClient, server: FakeServer) -> FakeSocket:
    client.start()
    await settle()
    return server.last


Fixture = tuple[Harness, httpx.AsyncClient]
