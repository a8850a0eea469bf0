"""The baseline of ``bench_delivery.py``: a bare ``websockets`` server fed by Redis pub/sub.

It does the least a delivery node must do, the way a hand-written Python server would:
authenticate the token (HS256), keep a map of user -> sockets, subscribe to ``LIVE_CHANNEL``,
decode each live message with :func:`outbox.live_wire.decode_live_batch` and send each entry's
``notification`` frame (:func:`delivery.frames.encode_notification`, so the bytes are the
ones tidings sends) to its user's sockets. No store, no replay, no queue per connection:
a ceiling for Python on this path, not a product. ``caught_up`` is sent right after the
handshake so that the load generator treats both servers alike.

Run: ``bare_server.py PORT REDIS_URL [--send await|write] [--channel C]`` with
``BENCH_JWT_SECRET`` set; prints ``ready`` once listening and subscribed to ``C`` (default
``LIVE_CHANNEL``; the benchmark gives each server under test a channel of its own, so that
several can stay connected while only one receives traffic). ``await`` (default) awaits
``send`` for each frame; ``write`` hands each frame to ``websockets.broadcast`` (a
synchronous write, no backpressure).
"""

import argparse
import asyncio
import os
import signal
import sys
from collections import defaultdict
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection, broadcast, serve

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from delivery.frames import encode_caught_up, encode_notification
from foundation.constants import LIVE_CHANNEL
from outbox.live_wire import decode_live_batch

SECRET = os.environ["BENCH_JWT_SECRET"]
sockets: defaultdict[str, set[ServerConnection]] = defaultdict(set)


async def handler(ws: ServerConnection) -> None:
    assert ws.request is not None
    query = parse_qs(urlsplit(ws.request.path).query)
    try:
        claims = jwt.decode(
            query["token"][0], SECRET, algorithms=["HS256"], options={"require": ["exp", "sub"]}
        )
    except (KeyError, jwt.InvalidTokenError):
        await ws.close(4401, "unauthorized")
        return
    user = claims["sub"]
    sockets[user].add(ws)
    try:
        await ws.send(encode_caught_up(0))
        async for _ in ws:  # client frames are read and ignored
            pass
    finally:
        sockets[user].discard(ws)
        if not sockets[user]:
            del sockets[user]


async def ingest(redis_url: str, channel: str, mode: str, subscribed: asyncio.Event) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.subscribe(channel)
        subscribed.set()
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            for entry in decode_live_batch(message["data"]).entries:
                targets = sockets.get(entry.user_id)
                if not targets:
                    continue
                frame = encode_notification(entry)
                if mode == "write":
                    broadcast(targets, frame)
                    continue
                for ws in tuple(targets):
                    try:
                        await ws.send(frame)
                    except Exception:  # a closed client is unregistered by its handler
                        pass


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("redis_url")
    parser.add_argument("--send", choices=("await", "write"), default="await")
    parser.add_argument("--channel", default=LIVE_CHANNEL)
    args = parser.parse_args()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    subscribed = asyncio.Event()
    async with serve(handler, "127.0.0.1", args.port, backlog=2048, ping_interval=20):
        task = asyncio.create_task(ingest(args.redis_url, args.channel, args.send, subscribed))
        await subscribed.wait()
        print("ready", flush=True)
        await stop.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
