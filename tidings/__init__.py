"""tidings: a durable notification outbox with WebSocket delivery.

The distribution holds four packages with real boundaries between them:

- ``api_hooks``: what the host application calls inside its own transactions.
- ``outbox``: records, the storage port and its adapters, and the routing worker.
- ``delivery``: the WebSocket and REST service.
- ``migrations``: versioned schemas for both stores.

This package holds what they share: settings, errors, names, and the CLI.
"""
