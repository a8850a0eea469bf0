"""tidings: a durable notification outbox with WebSocket delivery.

What a host application imports, in one line::

    from tidings import Tidings, Users, Group, Everyone, load_settings

The distribution holds these packages, each a layer that imports only those below it:

- ``tidings`` (this one): the public names, the ``tidings`` command and process entry points;
- ``delivery``: the WebSocket and REST service;
- ``api_hooks``: what the host application calls inside its own transactions;
- ``outbox``: records and decisions, the storage port and its stores, the routing worker;
- ``migrations``: each store's versioned schema history;
- ``foundation``: settings, errors, names and logging, shared by all of them.

The names below load on first use, so that ``tidings worker`` does not import the web stack.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api_hooks import Emitter, run_in_transaction
    from delivery.auth import Principal
    from foundation.errors import (
        ConfigurationError,
        EmitRefused,
        NotInTransaction,
        SignalUnavailable,
        TidingsError,
    )
    from foundation.logs import logging_config
    from foundation.settings import Settings, load_settings
    from outbox.records import Everyone, Group, Users
    from outbox.resolvers import Resolvers
    from tidings.host import Tidings

_PUBLIC = {
    "Tidings": "tidings.host",
    "Emitter": "api_hooks",
    "run_in_transaction": "api_hooks",
    "Users": "outbox.records",
    "Group": "outbox.records",
    "Everyone": "outbox.records",
    "Resolvers": "outbox.resolvers",
    "Principal": "delivery.auth",
    "Settings": "foundation.settings",
    "load_settings": "foundation.settings",
    "logging_config": "foundation.logs",
    "TidingsError": "foundation.errors",
    "ConfigurationError": "foundation.errors",
    "EmitRefused": "foundation.errors",
    "NotInTransaction": "foundation.errors",
    "SignalUnavailable": "foundation.errors",
}

__all__ = [
    "ConfigurationError",
    "EmitRefused",
    "Emitter",
    "Everyone",
    "Group",
    "NotInTransaction",
    "Principal",
    "Resolvers",
    "Settings",
    "SignalUnavailable",
    "Tidings",
    "TidingsError",
    "Users",
    "load_settings",
    "logging_config",
    "run_in_transaction",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'tidings' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
