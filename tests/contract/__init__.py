"""One contract suite for every implementation of ``outbox.store.OutboxStore``."""
