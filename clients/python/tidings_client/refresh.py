"""Keeping one connection's token fresh: ``{"type":"refresh","token":T}`` before ``exp``.

The server closes a connection with 4401 at its token's ``exp``; a refresh with a fresher
token of the same user moves that moment without reconnecting.
"""

import asyncio
from collections.abc import Awaitable, Callable

from .errors import TidingsClientError
from .frames import encode_refresh
from .jwt import refresh_time, token_expiry


class Refresher:
    """Sends refreshes for one connection until :meth:`cancel`.

    The first refresh is due ``lead`` seconds before ``token_exp`` (halfway to it for short
    tokens), or at once when ``token_exp`` is unknown (the connection was opened with a ticket
    the application bought itself). A token that is not fresher than the current one is
    asked for again later, while the current one lives; past it, the server's 4401 takes
    over. Failures of ``get_token`` go to ``report``; a failed send ends the refresher.
    """

    def __init__(
        self,
        *,
        get_token: Callable[[], Awaitable[str]],
        send: Callable[[str], Awaitable[None]],
        token_exp: float | None,
        lead: float,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        report: Callable[[TidingsClientError], None],
        on_sent: Callable[[], None],
    ) -> None:
        self.token_exp = token_exp
        self._get_token = get_token
        self._send = send
        self._lead = lead
        self._clock = clock
        self._sleep = sleep
        self._report = report
        self._on_sent = on_sent
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def cancel(self) -> None:
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def _run(self) -> None:
        delay = 0.0 if self.token_exp is None else self._due()
        while delay is not None:
            await self._sleep(delay)
            delay = await self._refresh()

    async def _refresh(self) -> float | None:
        """One refresh; returns the delay before the next one (None: no more)."""
        try:
            token = await self._get_token()
        except TidingsClientError as error:
            self._report(error)
            return self._retry()
        exp = token_expiry(token)
        if exp is None or (self.token_exp is not None and exp <= self.token_exp):
            return self._retry()
        try:
            await self._send(encode_refresh(token))
        except Exception:
            return None
        self.token_exp = exp
        self._on_sent()
        return self._due()

    def _due(self) -> float | None:
        if self.token_exp is None:
            return None
        now = self._clock()
        return max(0.0, refresh_time(self.token_exp, now, self._lead) - now)

    def _retry(self) -> float | None:
        """Halfway to exp, at least 1 s later; None when that would be past exp."""
        if self.token_exp is None:
            return None
        remaining = self.token_exp - self._clock()
        delay = max(1.0, remaining / 2)
        return delay if delay < remaining else None
