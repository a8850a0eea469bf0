"""One contract suite for every implementation of ``outbox.port.OutboxStore``."""
