"""The sans-I/O delivery session: one WebSocket connection's protocol state, with no I/O.

:class:`DeliverySession` takes what happens to a connection (store reads, live entries,
client frames, the passing of time) and returns :data:`Action` values for the endpoint to
execute. It never awaits, reads a clock or touches a socket, a store or Redis.
"""

import enum
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any, Final

from delivery.actions import (
    CLOSE_UNAUTHORIZED,
    CLOSE_UNSUPPORTED_DATA,
    Action,
    Close,
    ReadInbox,
    Send,
    Sequenced,
)
from delivery.client_frames import ClientFrames
from delivery.frames import (
    encode_broadcast,
    encode_caught_up,
    encode_error,
    encode_notification,
    encode_welcome,
)
from delivery.limits import DEFAULT_LIMITS, SessionLimits
from outbox.records import AckOutcome, Notification

_SEQ: Final = attrgetter("seq")


class SessionState(enum.Enum):
    """Where a session is; see :class:`DeliverySession`."""

    NEW = "new"  # created, ``open`` not called yet: live entries are held
    REPLAYING = "replaying"  # reading the store for ``since``; ``caught_up`` not sent yet
    LIVE = "live"  # ``caught_up`` sent; live entries go straight out (or fill a gap first)
    CLOSED = "closed"  # a ``Close`` was returned; every method returns ``[]``


class DeliverySession:
    """One connection of one user's device, as a state machine that returns actions.

    **Call order.** The endpoint authenticates, accepts the socket, creates the session, then:

    1. subscribes the connection to live entries and broadcasts for ``user_id``; from here on
       it feeds every live batch to :meth:`live` and every broadcast to :meth:`broadcast`,
       even before step 2 (they are held until they can be sent);
    2. reads the head and the device's ack, *after* step 1, and calls :meth:`open` once;
    3. executes returned actions in list order. A :class:`ReadInbox` is always the last
       action of a list and at most one is outstanding: execute it and pass the entries to
       :meth:`replay_page` (which may return the next one). :class:`Close` is always last too;
    4. feeds client frames to :meth:`receive_text` (binary: :meth:`receive_binary`), ack
       outcomes to :meth:`ack_result`, refresh verifications to :meth:`refresh_result`;
       calls :meth:`tick` periodically, :meth:`resync` once its lost live subscription is back
       (signals may have been missed), :meth:`close` for reasons of its own (4408, 1001, 4403).

    Every method may be called in any state after step 2 (and all but :meth:`replay_page`
    before it); once a :class:`Close` has been returned, every method returns ``[]``.

    **Stream guarantee (G5).** Frames carry every seq after the start position that the
    store still holds, ascending, each once, across the replay-to-live handoff. Live entries
    are only a signal: one that does not continue the stream (a gap from a missed signal, an
    out-of-order arrival) is held and the store is read from the last position; while a read
    is outstanding, live entries are held (at most ``live_buffer_limit``; on overflow they are
    dropped and the store is read up to the highest seq seen instead). A read that returns a
    full page is followed by another. A short page proves that every seq up to the highest one
    known when the read was issued that it did not return is gone (trimmed): the stream moves
    past them. This relies on the endpoint's order (subscribe, then read the head) and on
    live entries being published only after their commit.

    **Start position.** ``since`` when given, else the stored ack when above 0, else the head;
    a start above the head becomes the head with ``recovered: false``. ``recovered`` is also
    false when the store no longer holds ``start + 1`` although the head is above the start
    (G7). The welcome frame (first frame, its ``since`` field being the start position) is
    sent by :meth:`open` when there is nothing to replay, else with the first page.
    ``caught_up`` (``seq``: the position reached) follows once the replay and the live
    entries held meanwhile are sent; it is sent once per connection, later gap reads send none.

    **Broadcasts** before the welcome are held (at most ``live_buffer_limit``) and follow it.
    Frames and reads are protocol v1's: ``delivery.stream_session`` (v2) replaces them.

    **Client frames** are judged by :class:`~delivery.client_frames.ClientFrames`; a binary
    frame closes with 1003. Acks are not checked here: the store decides (:meth:`ack_result`).

    **Time.** ``now`` and ``expires_at`` (leeway included) share the endpoint's clock: the
    first :meth:`tick` or :meth:`receive_text` at or past ``expires_at`` closes with 4401.
    """

    _frame: Callable[[Any], str] = staticmethod(encode_notification)
    _caught_up: Callable[[int], str] = staticmethod(encode_caught_up)
    _read_request: Callable[[int, int], Action] = ReadInbox

    def __init__(
        self,
        user_id: str,
        device: str,
        since: int | None,
        *,
        expires_at: float,
        limits: SessionLimits = DEFAULT_LIMITS,
    ) -> None:
        self.user_id = user_id
        self.device = device
        self.since = since
        self._expires_at = expires_at
        self._page_size = limits.page_size
        self._buffer_limit = limits.live_buffer_limit
        self._frames = ClientFrames(limits)
        self._state = SessionState.NEW
        self._unread: int | None = None
        self._head = 0
        self._start = 0
        self._recovered: bool | None = None
        self._position = 0  # every seq <= position was sent or is gone from the store
        self._target = 0  # the highest seq known to exist
        self._buffer: dict[int, Sequenced] = {}  # live entries above the position
        self._reading = False
        self._covers = 0  # ``_target`` when the outstanding read was issued
        self._resync = False
        self._welcomed = False
        self._held_broadcasts: list[str] = []

    # Properties.

    @property
    def state(self) -> SessionState:
        """The current :class:`SessionState`."""
        return self._state

    @property
    def closed(self) -> bool:
        """True once a :class:`Close` has been returned."""
        return self._state is SessionState.CLOSED

    @property
    def last_sent(self) -> int:
        """The stream position: the highest seq sent, passed as gone, or the start position."""
        return self._position

    @property
    def recovered(self) -> bool | None:
        """The welcome's ``recovered`` once decided, else ``None``."""
        return self._recovered

    @property
    def awaiting_read(self) -> bool:
        """True while a :class:`ReadInbox` is outstanding."""
        return self._reading

    @property
    def buffered(self) -> int:
        """How many live entries are held, waiting for a read to fill a gap before them."""
        return len(self._buffer)

    @property
    def expires_at(self) -> float:
        """When the connection's token expires (moved by successful refreshes)."""
        return self._expires_at

    # The stream.

    def open(self, head: int, acked: int, *, unread: int | None = None) -> list[Action]:
        """Start the stream from the head and stored ack read after subscribing.

        ``unread`` (the store's count of retained entries above ``acked``) goes into the
        welcome; the endpoint always gives it, and the welcome leaves it out without it.

        Returns a :class:`ReadInbox` when there is something to replay, else the welcome,
        any live entries already held that continue the stream, and ``caught_up`` (or a
        :class:`ReadInbox` when held entries show a gap). Raises ``RuntimeError`` when called
        twice.
        """
        if self.closed:
            return []
        if self._state is not SessionState.NEW:
            raise RuntimeError("open() must be called exactly once")
        self._unread = unread
        requested = self.since if self.since is not None else (acked if acked > 0 else head)
        self._head = head
        self._start = min(requested, head)
        self._position = self._start
        self._target = max(self._target, head)
        self._state = SessionState.REPLAYING
        self._drop_held_upto(self._position)
        if self._start < head:
            # The first page decides ``recovered``, so the welcome waits for it.
            return [self._read()]
        self._recovered = requested <= head
        actions = self._welcome()
        self._advance(actions, must_read=False)
        return actions

    def replay_page(self, entries: Sequence[Sequenced]) -> list[Action]:
        """Feed the result of the outstanding :class:`ReadInbox` (ascending, as the store
        returns them).

        Returns the frames it allows (the welcome first when it was waiting for this page),
        then the next :class:`ReadInbox`, or ``caught_up`` when the replay ends. Entries of
        other users and seqs at or below the position are ignored. Raises ``RuntimeError``
        when no read is outstanding.
        """
        if self.closed:
            return []
        if not self._reading:
            raise RuntimeError("replay_page() without an outstanding ReadInbox")
        self._reading = False
        fresh = [e for e in entries if e.user_id == self.user_id and e.seq > self._position]
        actions: list[Action] = []
        if not self._welcomed:
            first = fresh[0].seq if fresh else None
            self._recovered = first == self._start + 1
            actions.extend(self._welcome())
        before = self._position
        for entry in fresh:
            self._send(entry, actions)
        full = len(entries) >= self._page_size and self._position > before
        if not full:
            self._pass_gone(actions)
        self._advance(actions, must_read=full)
        return actions

    def live(self, entries: Sequence[Sequenced]) -> list[Action]:
        """Feed a batch of live entries, in any order, possibly with duplicates.

        Sends the entries that continue the stream when live and no read is outstanding;
        holds the others and returns a :class:`ReadInbox` when they show a gap. Drops
        entries at or below the position and entries of other users (G6).
        """
        if self.closed:
            return []
        actions: list[Action] = []
        flowing = self._state is SessionState.LIVE and not self._reading
        for entry in sorted(entries, key=_SEQ) if len(entries) > 1 else entries:
            if entry.user_id != self.user_id:
                continue
            self._target = max(self._target, entry.seq)
            if entry.seq <= self._position:
                continue
            if flowing and not self._buffer and entry.seq == self._position + 1:
                self._send(entry, actions)
            else:
                self._hold(entry)
        if flowing:
            self._advance(actions, must_read=False)
        return actions

    def broadcast(self, notification: Notification) -> list[Action]:
        """Feed a broadcast: sent now once welcomed, else held for the welcome."""
        if self.closed:
            return []
        text = encode_broadcast(notification)
        if self._welcomed:
            return [Send(text)]
        if len(self._held_broadcasts) < self._buffer_limit:
            self._held_broadcasts.append(text)
        return []

    def resync(self) -> list[Action]:
        """Live signals may have been lost: read the store after the position.

        Returns a :class:`ReadInbox` at once when live and idle; otherwise one more read is
        made after the current one (or as part of :meth:`open`).
        """
        if self.closed:
            return []
        self._resync = True
        actions: list[Action] = []
        if self._state is SessionState.LIVE and not self._reading:
            self._advance(actions, must_read=False)
        return actions

    # Client frames and time.

    def receive_text(self, text: str, now: float) -> list[Action]:
        """Feed a client text frame received at ``now``.

        Returns :class:`StoreAck` for an ack, :class:`VerifyRefresh` for a refresh, an
        ``error`` frame for a bad frame, or a :class:`Close` (4401 expired, 4429 rate, 1009
        too big, 4400 too many bad frames).
        """
        if self.closed:
            return []
        if now >= self._expires_at:
            return self._close(CLOSE_UNAUTHORIZED, "token expired")
        verdict = self._frames.judge(text, now)
        if isinstance(verdict, Close):
            return self._close(verdict.code, verdict.reason)
        if isinstance(verdict, list):
            if isinstance(verdict[-1], Close):
                self._close(verdict[-1].code, verdict[-1].reason)
            return verdict
        return [verdict]

    def receive_binary(self) -> list[Action]:
        """Feed a client binary frame: the protocol has none, so close with 1003."""
        return self._close(CLOSE_UNSUPPORTED_DATA, "binary frames are not supported")

    def ack_result(self, seq: int, outcome: AckOutcome) -> list[Action]:
        """Feed the store's outcome for ``StoreAck(seq)``: an ``error`` frame or nothing."""
        if self.closed:
            return []
        if outcome is AckOutcome.STALE:
            message = f"ack {seq} is below the stored ack"
        elif outcome is AckOutcome.ABOVE_HEAD:
            message = f"ack {seq} is above the head"
        else:
            return []
        return [Send(encode_error(outcome.value, message))]

    def refresh_result(self, user_id: str | None, expires_at: float | None) -> list[Action]:
        """Feed the verification of a refresh token: its user and expiry, ``None`` if invalid.

        A valid token of this user moves the expiry (never earlier) and sends nothing;
        anything else closes with 4401.
        """
        if self.closed:
            return []
        if user_id != self.user_id or expires_at is None:
            return self._close(CLOSE_UNAUTHORIZED, "refresh token refused")
        self._expires_at = max(self._expires_at, expires_at)
        return []

    def tick(self, now: float) -> list[Action]:
        """Let time pass: closes with 4401 once ``now >= expires_at``."""
        if self.closed or now < self._expires_at:
            return []
        return self._close(CLOSE_UNAUTHORIZED, "token expired")

    def close(self, code: int, reason: str) -> list[Action]:
        """Close for a reason of the endpoint's own; returns the :class:`Close` once."""
        return self._close(code, reason)

    # Internals.

    def _close(self, code: int, reason: str) -> list[Action]:
        if self.closed:
            return []
        self._state = SessionState.CLOSED
        self._buffer.clear()
        self._held_broadcasts.clear()
        return [Close(code, reason)]

    def _welcome(self) -> list[Action]:
        self._welcomed = True
        actions: list[Action] = [Send(self._welcome_frame())]
        actions.extend(Send(text) for text in self._held_broadcasts)
        self._held_broadcasts.clear()
        return actions

    def _welcome_frame(self) -> str:
        fields = (self.user_id, self._head, self._start, bool(self._recovered), self.device)
        return encode_welcome(*fields, unread=self._unread)

    def _read(self) -> Action:
        # A read issued now sees every seq up to the target: each was committed before we
        # learnt of it. That is what lets a short page prove the rest gone.
        self._reading = True
        self._covers = self._target
        self._resync = False
        return self._read_request(self._position, self._page_size)

    def _send(self, entry: Sequenced, actions: list[Action]) -> None:
        if entry.seq > self._position:
            self._position = entry.seq
            actions.append(Send(self._frame(entry)))

    def _hold(self, entry: Sequenced) -> None:
        if len(self._buffer) >= self._buffer_limit and entry.seq not in self._buffer:
            # The store is the record: forget the held entries and read up to the target.
            self._buffer.clear()
            return
        self._buffer[entry.seq] = entry

    def _drop_held_upto(self, seq: int) -> None:
        for held in [held for held in self._buffer if held <= seq]:
            del self._buffer[held]

    def _pass_gone(self, actions: list[Action]) -> None:
        """After a short page: send held entries up to the read's reach, then pass it."""
        for seq in sorted(seq for seq in self._buffer if seq <= self._covers):
            self._send(self._buffer.pop(seq), actions)
        self._position = max(self._position, self._covers)

    def _advance(self, actions: list[Action], *, must_read: bool) -> None:
        """Send held entries that continue the stream, then read again or go live."""
        if self._buffer:  # usually empty: keep the live path cheap
            self._drop_held_upto(self._position)
            while (entry := self._buffer.pop(self._position + 1, None)) is not None:
                self._send(entry, actions)
        # Held entries are all <= the target, so a gap before them shows here too.
        if must_read or self._resync or self._position < self._target:
            actions.append(self._read())
        elif self._state is SessionState.REPLAYING:
            self._state = SessionState.LIVE
            actions.append(Send(self._caught_up(self._position)))
