"""tidings: a durable notification outbox with WebSocket delivery.

The distribution holds these packages, each a layer that imports only those below it:

- ``tidings`` (this one): composition, the ``tidings`` command and process entry points;
- ``delivery``: the WebSocket and REST service;
- ``api_hooks``: what the host application calls inside its own transactions;
- ``outbox``: records and decisions, the storage port and its stores, the routing worker;
- ``migrations``: each store's versioned schema history;
- ``foundation``: settings, errors, names and logging, shared by all of them.
"""
