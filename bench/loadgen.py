"""WebSocket load generator for ``bench_delivery.py``: one client per user, in one process.

Each client is an ``asyncio.Protocol`` around websockets' sans-I/O ``ClientProtocol`` (see
:class:`Client`): frames are parsed and counted in ``data_received``, with no task switch
per frame, so that one process on one core keeps up with the servers under test.

Driven by JSON lines on stdin, one JSON line answered on stdout per command (logs go to
stderr). Commands:

- ``{"cmd": "connect", "group": G, "url": U, "users": [...], "since": S|null, "deflate": B,
  "protocol": "tidings"|"socketio"}``: open one connection per user, all at once, and wait
  until every one has sent ``caught_up``. Answers the time that took, the replayed frames,
  and per-client time to ``caught_up``. Connections are kept in group ``G``.
- ``{"cmd": "arm", "expect": N}``: start counting live ``notification`` frames from zero.
- ``{"cmd": "wait", "timeout": T, "stall": S}``: wait until ``expect`` frames arrived (or
  ``timeout``, or ``stall`` seconds without a frame); answers counts, times and latencies.
- ``{"cmd": "expect", "expect": N}``: change what ``wait`` waits for, once the count is known.
- ``{"cmd": "heads"}``: the last seq each user received (per user, 0 after ``since=0``).
- ``{"cmd": "close", "group": G}``: close the group's connections (every connection without
  ``group``). ``{"cmd": "exit"}``: leave.

``protocol`` ``socketio`` speaks Engine.IO v4 / Socket.IO v5 over a plain WebSocket (``U`` is
then ``ws://HOST:PORT/socket.io/?EIO=4&transport=websocket``): the token goes in the
namespace CONNECT packet (``40{"token": ...}``) sent on the open packet (``0{...}``), engine.io
pings (``2``) are answered (``3``), and event packets ``42["notification", {...}]`` and
``42["caught_up", {...}]`` carry the same objects as tidings' frames. Only what this benchmark
needs: one namespace (``/``), no acknowledgements, no binary packets, no polling.

Every frame is checked: per user, seqs must follow each other (1, 2, 3, ... after
``since``); ``gaps`` counts every break, ``duplicates`` those that repeat a seq already
had. Latency is the receive time minus ``data["t"]`` (``time.monotonic_ns()`` of the
publisher: CLOCK_MONOTONIC is one clock for every process on the machine).
"""

import asyncio
import os
import sys
import time
from typing import Any
from urllib.parse import quote

import jwt
import orjson
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

CONNECT_TIMEOUT = 120.0
CLOSE_TIMEOUT = 5.0
OP_CONT, OP_TEXT, OP_CLOSE, OP_PING = (
    Opcode.CONT.value,
    Opcode.TEXT.value,
    Opcode.CLOSE.value,
    Opcode.PING.value,
)


def token(user_id: str, secret: str) -> str:
    now = int(time.time())
    payload = {"sub": user_id, "exp": now + 3600, "iat": now, "type": "access"}
    return jwt.encode(payload, secret, algorithm="HS256")


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Client(asyncio.Protocol):
    """One user's connection: handshake, replay until ``caught_up``, then live frames.

    websockets' ``ClientProtocol`` makes the opening handshake. When no extension was
    negotiated, the frames that follow are parsed here (a server's frames are unmasked, so
    this is a few slices), which costs a fraction of the general parser; with
    permessage-deflate, ``ClientProtocol`` handles every frame. With ``auth`` (Socket.IO
    mode), every text frame is an Engine.IO packet: see :meth:`on_engine_packet`.
    """

    def __init__(
        self, owner: "Clients", user: str, uri: str, deflate: bool, auth: bytes | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        extensions = (
            [ClientPerMessageDeflateFactory(client_max_window_bits=True)] if deflate else None
        )
        self.owner = owner
        self.user = user
        self.protocol = ClientProtocol(parse_uri(uri), extensions=extensions, max_size=2**20)
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.caught_up: asyncio.Future[tuple[float, int]] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.replayed = 0
        self.started = 0.0
        self.fragments: list[bytes] = []
        self.buffer = bytearray()
        self.handshaking = True
        self.fast = False  # frames parsed here rather than by ``self.protocol``
        self.fast_close: tuple[int, str] | None = None
        self.close_sent = False
        # Socket.IO mode: the namespace CONNECT packet, sent when engine.io's open arrives.
        self.auth = auth

    @property
    def close_code(self) -> int | None:
        return self.fast_close[0] if self.fast_close else self.protocol.close_code

    @property
    def close_reason(self) -> str:
        return self.fast_close[1] if self.fast_close else (self.protocol.close_reason or "")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.protocol.send_request(self.protocol.connect())
        self.flush()

    def data_received(self, data: bytes) -> None:
        if self.fast:
            self.buffer += data
            self.parse_fast()
        elif self.handshaking:
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                head, rest = bytes(self.buffer[: end + 4]), bytes(self.buffer[end + 4 :])
                self.buffer.clear()
                self.handshaking = False
                self.feed(head)
                self.fast = self.opened.done() and not self.protocol.extensions
                self.data_received(rest)
        else:
            self.feed(data)

    def feed(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                self.on_response()
            elif isinstance(event, Frame):
                self.on_frame(event)
        self.flush()

    def eof_received(self) -> bool | None:
        if not self.fast:
            self.protocol.receive_eof()
            self.flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionError(f"closed {self.close_code} before caught_up")
        for future in (self.opened, self.caught_up):
            if not future.done():
                future.set_exception(error)
        if not self.lost.done():
            self.lost.set_result(None)
        self.owner.on_lost(self)

    def on_response(self) -> None:
        if self.protocol.handshake_exc is not None:
            self.opened.set_exception(self.protocol.handshake_exc)
        else:
            self.opened.set_result(None)

    def on_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.TEXT or (frame.opcode is Opcode.CONT and self.fragments):
            self.on_data(frame.fin, frame.data)

    def on_data(self, fin: bool, data: bytes | bytearray | memoryview) -> None:
        if not fin:
            self.fragments.append(bytes(data))
            return
        if self.fragments:
            data = b"".join([*self.fragments, data])
            self.fragments = []
        if self.auth is not None:
            self.on_engine_packet(data)
        elif self.caught_up.done():
            self.owner.on_live(self.user, data)
        else:
            self.on_replay(orjson.loads(data))

    def on_engine_packet(self, data: bytes | bytearray | memoryview) -> None:
        """One Engine.IO packet (a text frame): ``4`` message (``42`` a Socket.IO event,
        ``40`` CONNECT answered, ``44`` CONNECT refused), ``2`` ping, ``0`` open."""
        kind = data[0]
        if kind == 0x34 and data[1] == 0x32:  # "42": an event
            _event, payload = orjson.loads(memoryview(data)[2:])
            if self.caught_up.done():
                self.owner.on_live_frame(self.user, payload)
            else:
                self.on_replay(payload)
        elif kind == 0x32:  # "2": engine.io ping
            self.send_text(b"3")
        elif kind == 0x30:  # "0": engine.io open
            assert self.auth is not None
            self.send_text(self.auth)
        elif kind == 0x34 and data[1] == 0x34:  # "44": connect refused
            error = ConnectionError(f"socket.io connect refused: {bytes(data[2:])!r}")
            for future in (self.opened, self.caught_up):
                if not future.done():
                    future.set_exception(error)

    def parse_fast(self) -> None:
        buffer, size, position = self.buffer, len(self.buffer), 0
        while size - position >= 2:
            length, head = buffer[position + 1] & 0x7F, 2
            if length == 126:
                if size - position < 4:
                    break
                length, head = int.from_bytes(buffer[position + 2 : position + 4]), 4
            elif length == 127:
                if size - position < 10:
                    break
                length, head = int.from_bytes(buffer[position + 2 : position + 10]), 10
            end = position + head + length
            if end > size:
                break
            self.on_fast_frame(buffer[position], buffer[position + head : end])
            position = end
        if position:
            del buffer[:position]

    def on_fast_frame(self, first: int, payload: bytearray) -> None:
        opcode = first & 0x0F
        if opcode == OP_TEXT or opcode == OP_CONT:
            self.on_data(bool(first & 0x80), payload)
        elif opcode == OP_PING:
            self.write_frame(Frame(Opcode.PONG, bytes(payload)))
        elif opcode == OP_CLOSE:
            code = int.from_bytes(payload[:2]) if len(payload) >= 2 else 1005
            self.fast_close = (code, payload[2:].decode(errors="replace"))
            if not self.close_sent:
                self.write_frame(Frame(Opcode.CLOSE, bytes(payload[:2])))

    def write_frame(self, frame: Frame) -> None:
        assert self.transport is not None
        self.close_sent = self.close_sent or frame.opcode is Opcode.CLOSE
        self.transport.write(frame.serialize(mask=True))

    def send_text(self, data: bytes) -> None:
        if self.fast:
            self.write_frame(Frame(Opcode.TEXT, data))
        else:
            self.protocol.send_text(data)
            self.flush()

    def on_replay(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "notification":
            self.owner.check_seq(self.user, message["seq"])
            self.replayed += 1
        elif kind == "caught_up":
            self.caught_up.set_result((time.perf_counter() - self.started, self.replayed))

    def flush(self) -> None:
        assert self.transport is not None
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    async def close(self) -> None:
        if self.transport is None or self.lost.done():
            return
        if self.fast:
            if not self.close_sent:
                self.write_frame(Frame(Opcode.CLOSE, (1000).to_bytes(2)))
        else:
            self.protocol.send_close(1000)
            self.flush()
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), CLOSE_TIMEOUT)
        except TimeoutError:
            self.transport.abort()


class Clients:
    """Every open connection, with the counters the commands read."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.groups: dict[str, list[Client]] = {}
        self.last_seq: dict[str, int] = {}
        self.gaps = 0
        self.duplicates = 0
        self.closed_by_server: list[str] = []
        self.closing = False
        self.started = 0.0
        # Counting (``arm``).
        self.armed = False
        self.expect = 0
        self.count = 0
        self.other_frames = 0
        self.first_ns = 0
        self.last_ns = 0
        self.mark_low = 0
        self.mark_high = 0
        self.low_ns = 0
        self.high_ns = 0
        self.latencies: list[int] = []
        self.arrivals: list[int] = []  # receive times, for marks set after the fact
        self.done = asyncio.Event()
        self.cpu_started = 0.0

    # Per frame.

    def check_seq(self, user: str, seq: int) -> None:
        last = self.last_seq.get(user)
        if last is not None and seq != last + 1:
            self.gaps += 1
            if seq <= last:
                self.duplicates += 1
                return
        self.last_seq[user] = seq

    def on_live(self, user: str, data: bytes | bytearray | memoryview) -> None:
        self.on_live_frame(user, orjson.loads(data))

    def on_live_frame(self, user: str, frame: dict[str, Any]) -> None:
        if frame.get("type") != "notification":
            self.other_frames += 1
            return
        self.check_seq(user, frame["seq"])
        if not self.armed:
            return
        now = time.monotonic_ns()
        self.latencies.append(now - frame["data"]["t"])
        self.arrivals.append(now)
        self.count += 1
        count = self.count
        if count == 1:
            self.first_ns = now
        if count == self.mark_low:
            self.low_ns = now
        if count == self.mark_high:
            self.high_ns = now
        self.last_ns = now
        if count >= self.expect:
            self.done.set()

    def on_lost(self, client: Client) -> None:
        code = client.close_code
        if not self.closing and code not in (None, 1000):
            self.closed_by_server.append(f"{client.user}: {code} {client.close_reason}")

    # Commands.

    async def open_one(
        self,
        group: list[Client],
        user: str,
        url: str,
        since: int | None,
        deflate: bool,
        protocol: str,
    ) -> tuple[float, int]:
        if since is not None:
            self.last_seq[user] = since
        else:
            self.last_seq.pop(user, None)
        auth = None
        if protocol == "socketio":
            uri = url
            auth = b"40" + orjson.dumps({"token": token(user, self.secret)})
        else:
            query = f"token={quote(token(user, self.secret))}"
            uri = f"{url}?{query}" if since is None else f"{url}?{query}&since={since}"
        parsed = parse_uri(uri)
        client = Client(self, user, uri, deflate, auth)
        client.started = self.started
        group.append(client)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await loop.create_connection(lambda: client, parsed.host, parsed.port)
            await client.opened
            return await client.caught_up

    async def connect_all(
        self,
        group: str,
        url: str,
        users: list[str],
        since: int | None,
        deflate: bool,
        protocol: str = "tidings",
    ) -> dict[str, Any]:
        clients = self.groups.setdefault(group, [])
        cpu = time.process_time()
        self.started = time.perf_counter()
        results = await asyncio.gather(
            *(self.open_one(clients, user, url, since, deflate, protocol) for user in users),
            return_exceptions=True,
        )
        seconds = time.perf_counter() - self.started
        cpu = time.process_time() - cpu
        times = [r[0] for r in results if isinstance(r, tuple)]
        failures = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
        return {
            "seconds": seconds,
            "caught_up": len(times),
            "failed": len(failures),
            "failures": failures[:5],
            "replayed": sum(r[1] for r in results if isinstance(r, tuple)),
            "ttcu_p50": percentile(times, 0.5),
            "ttcu_p99": percentile(times, 0.99),
            "gaps": self.gaps,
            "cpu": cpu,
        }

    def arm(self, expect: int) -> dict[str, Any]:
        self.armed = True
        self.expect = expect
        self.count = self.other_frames = 0
        self.first_ns = self.last_ns = self.low_ns = self.high_ns = 0
        self.mark_low = max(1, expect // 10)
        self.mark_high = max(1, expect * 9 // 10)
        self.latencies = []
        self.arrivals = []
        self.gaps = 0
        self.duplicates = 0
        self.done = asyncio.Event()
        self.cpu_started = time.process_time()
        return {"armed": True}

    async def wait(self, timeout: float, stall: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen, seen_at = -1, time.monotonic()
        while not self.done.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if self.count != seen:
                seen, seen_at = self.count, time.monotonic()
            elif time.monotonic() - seen_at > stall:
                break
        self.armed = False
        cpu = time.process_time() - self.cpu_started
        latencies_ms = [value / 1e6 for value in self.latencies]
        return {
            "count": self.count,
            "expect": self.expect,
            "first_ns": self.first_ns,
            "last_ns": self.last_ns,
            "low_ns": self.low_ns,
            "high_ns": self.high_ns,
            "mark_low": self.mark_low,
            "mark_high": self.mark_high,
            "p50_ms": percentile(latencies_ms, 0.5),
            "p99_ms": percentile(latencies_ms, 0.99),
            "p999_ms": percentile(latencies_ms, 0.999),
            "max_ms": max(latencies_ms, default=float("nan")),
            "gaps": self.gaps,
            "duplicates": self.duplicates,
            "other_frames": self.other_frames,
            "closed_by_server": len(self.closed_by_server),
            "closes": self.closed_by_server[:5],
            "errors": [],
            "cpu": cpu,
        }

    def set_expect(self, expect: int) -> dict[str, Any]:
        self.expect = expect
        self.mark_low = max(1, expect // 10)
        self.mark_high = max(1, expect * 9 // 10)
        arrivals = self.arrivals
        self.low_ns = arrivals[self.mark_low - 1] if len(arrivals) >= self.mark_low else 0
        self.high_ns = arrivals[self.mark_high - 1] if len(arrivals) >= self.mark_high else 0
        if self.count >= expect:
            self.done.set()
        return {"expect": expect, "count": self.count}

    async def close(self, group: str | None) -> dict[str, Any]:
        self.closing = True
        names = [group] if group is not None else list(self.groups)
        clients = [client for name in names for client in self.groups.pop(name, [])]
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
        self.closing = False
        closed, self.closed_by_server = self.closed_by_server, []
        return {"closed": len(clients), "closed_by_server": closed[:5]}


async def main() -> None:
    clients = Clients(os.environ["BENCH_JWT_SECRET"])
    out = sys.stdout
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            break
        command = orjson.loads(line)
        match command["cmd"]:
            case "connect":
                reply = await clients.connect_all(
                    command["group"],
                    command["url"],
                    command["users"],
                    command.get("since"),
                    command["deflate"],
                    command.get("protocol", "tidings"),
                )
            case "arm":
                reply = clients.arm(command["expect"])
            case "wait":
                reply = await clients.wait(command["timeout"], command["stall"])
            case "expect":
                reply = clients.set_expect(command["expect"])
            case "heads":
                reply = {"heads": clients.last_seq}
            case "close":
                reply = await clients.close(command.get("group"))
            case "exit":
                await clients.close(None)
                out.write("{}\n")
                out.flush()
                break
            case other:
                reply = {"error": f"unknown command {other}"}
        out.write(orjson.dumps(reply).decode() + "\n")
        out.flush()


if __name__ == "__main__":
    asyncio.run(main())
