"""Names of collections, tables, Redis keys and channels, in one place."""

from typing import Final

# Store collections (MongoDB) and tables (SQLite) share these names.
OUTBOX: Final = "tidings_outbox"
# The embedded store keeps dead records apart from the outbox (SQLite schema version 4).
OUTBOX_DEAD: Final = "tidings_outbox_dead"
NOTIFICATIONS: Final = "tidings_notifications"
INBOX: Final = "tidings_inbox"
COUNTERS: Final = "tidings_counters"
ACKS: Final = "tidings_acks"
LEASES: Final = "tidings_leases"
MIGRATIONS: Final = "tidings_migrations"
# Protocol v2: the changes on users' streams, and each device's position on its stream.
CHANGES: Final = "tidings_changes"
STREAM_ACKS: Final = "tidings_stream_acks"

# The single routing lease: one worker sequences at a time (see outbox/worker/router.py).
ROUTER_LEASE: Final = "router"
# A key in the leases collection that no lease uses: MongoDB's readiness probe writes it.
WRITE_PROBE: Final = "write-probe"

# Redis.
LIVE_CHANNEL: Final = "tidings:live"
WAKE_CHANNEL: Final = "tidings:wake"
# On a store with a commit watch (the embedded store), a wake-up carrying WAKE_AND_WATCH also
# has the workers ask the store for commits every millisecond for COMMIT_WATCH_HOT_SECONDS. A
# host that commits at least every HOST_BUSY_GAP_SECONDS sends one such wake-up every
# WAKE_QUIET_SECONDS and leaves out the others (see api_hooks.wake).
WAKE_AND_WATCH: Final = b"watch"
COMMIT_WATCH_HOT_SECONDS: Final = 1.0
WAKE_QUIET_SECONDS: Final = COMMIT_WATCH_HOT_SECONDS / 2
HOST_BUSY_GAP_SECONDS: Final = 0.005
# A user id published here closes that user's open connections on every node (4403).
REVOKE_CHANNEL: Final = "tidings:revoke"
TICKET_KEY_PREFIX: Final = "tidings:ticket:"
ROUTED_COUNTER_KEY: Final = "tidings:metrics:routed"
# Each delivery node keeps its connection count here (with a TTL) for `tidings status`.
NODE_CONNECTIONS_PREFIX: Final = "tidings:connections:"
ARQ_QUEUE: Final = "tidings:queue"
ROUTE_JOB: Final = "route_pending"

# Outbox record states.
PENDING: Final = "pending"
DEAD: Final = "dead"

# Outbox record kinds: a notification, or the retraction of those holding a collapse key.
NOTIFY: Final = "notify"
RETRACT: Final = "retract"

# Limits from the protocol.
MAX_DATA_BYTES: Final = 64 * 1024
EVENT_NAME_PATTERN: Final = r"[a-z][a-z0-9_.]{0,63}"
DEVICE_PATTERN: Final = r"[A-Za-z0-9_-]{1,64}"
DEFAULT_DEVICE: Final = "default"
MAX_SEQ: Final = 2**63 - 1

# The embedded demo signs tokens with this secret; settings refuse it unless ``demo`` is on.
DEMO_JWT_SECRET: Final = "tidings-demo-only-secret-never-use-in-production"
