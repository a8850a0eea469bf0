"""A small "Second Brain" host application: users with SBD token balances, families, a shop.

It changes its own data and emits notifications in the same transaction through
``api_hooks``, on the embedded SQLite store (the host tables live in the tidings database file)
or on MongoDB (when ``TIDINGS_MONGODB_URL`` is set). ``python -m examples.demo`` runs it with
the delivery service and the routing worker in one process.
"""
