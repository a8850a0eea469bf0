"""The routing worker process: outbox records in, inbox entries and live signals out.

A process around the pure routing core (:mod:`outbox.routing`): :mod:`.router` (rounds under
one owner id), :mod:`.wakeups` (wake-ups and the commit watch), :mod:`.arq_jobs` (arq underneath),
:mod:`.publisher` (live publishing), :mod:`.outage` (one log line per outage),
:mod:`.metrics`, and :mod:`.process` (start, the sweep, signals).

Design. The store is the record and Redis is only a trigger, so the process is a few
independent asyncio tasks around one :class:`Router`, and none of them stops the others:

- the **sweep** routes on every wake-up and at least every ``sweep_interval_seconds``, and
  trims entries older than ``retention_seconds`` about once a minute. Drains start at most
  every few milliseconds, so the wake-ups of a busy host share one, and a drain ends with the
  first batch that is not full (no claim that finds nothing): the busier the host, the larger
  each batch and the less each record costs. It needs nothing but
  the store, so routing goes on while Redis is down;
- the **wake subscriber** listens on ``WAKE_CHANNEL`` (published by the emit helper after its
  commit) and wakes the sweep at once: low latency without busy polling. It reconnects with
  backoff and wakes the sweep on every (re)subscription, since wake-ups sent meanwhile are
  lost;
- the **commit watch**, on a store that offers one (the embedded store), asks the store
  whether anything was committed and wakes the sweep when so: every millisecond for a second
  after a busy host's wake-up asked for it (that host then sends no wake-up for its other
  commits for half a second), every 100 ms otherwise (see :mod:`.wakeups`);
- the **arq supervisor** runs an arq ``Worker`` with the ``route_pending`` job
  (``ROUTE_JOB`` on ``ARQ_QUEUE``), so any process can trigger a drain through arq, and
  rebuilds it after every Redis failure;
- the **publisher** sends each committed batch on ``LIVE_CHANNEL``, in order. Routing hands
  batches over without waiting; when Redis fails the publisher logs it, keeps the batches
  (up to a bound) and retries with backoff, so routing never slows down for Redis and
  delivery, which can find every entry in the store anyway, misses as little as possible.

Routing inside one process is serialized by a lock, and each drain runs in a task of the
router's own, shielded from its caller: cancelling an arq job or the sweep never interrupts
a store transaction half-way. Across processes the store's single routing lease decides who
routes; claims renew it once half of it has passed. A worker that dies keeps the lease until
it expires (``lease_seconds``), then another worker, or the restarted one under a new owner
id, takes over. arq's own at-least-once redelivery is never waited for.

SIGTERM and SIGINT stop the process cleanly: no new batch starts, the batch in progress ends,
the lease is released so that another worker takes over immediately, and batches still
queued for publishing get a short grace period. Logs name owners, counts and error types,
never settings values such as URLs.
"""

from outbox.worker.process import run_worker, serve

__all__ = ["run_worker", "serve"]
