"""Outbox records, the storage port with its adapters, and the routing worker."""
