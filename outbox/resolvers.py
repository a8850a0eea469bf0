"""Turning an audience into user ids at routing time.

The host application registers one resolver per group kind (for example ``family``: family
id -> member usernames) on a :class:`Resolvers` and names it in ``TIDINGS_RESOLVERS`` as
``"package.module:attribute"``, where the attribute is a ``Resolvers`` instance or a
zero-argument callable returning one::

    resolvers = Resolvers()

    async def family_members(family_id: str) -> list[str]:
        ...

    resolvers.register("family", family_members)
"""

from collections.abc import Awaitable, Callable, Iterable

from foundation.errors import ConfigurationError, UnknownGroup
from foundation.imports import import_attribute
from outbox.records import Audience, Everyone, Group, Users

GroupResolver = Callable[[str], Awaitable[Iterable[str]]]


def _unique(ids: Iterable[object], kind: str) -> tuple[str, ...]:
    """``ids`` without repeats, first occurrence first; refuses anything but strings."""
    seen: dict[str, None] = {}
    for user_id in ids:
        if not isinstance(user_id, str):
            raise TypeError(f"resolver for group kind {kind!r} returned a non-string user id")
        seen[user_id] = None
    return tuple(seen)


class Resolvers:
    """Group resolvers by kind. Register them before the worker starts."""

    def __init__(self) -> None:
        self._by_kind: dict[str, GroupResolver] = {}

    def register(self, kind: str, resolver: GroupResolver) -> None:
        """Resolve ``Group(kind, id)`` with ``resolver(id)``; replaces an earlier one."""
        if not kind:
            raise ValueError("a group kind must not be empty")
        self._by_kind[kind] = resolver

    @property
    def kinds(self) -> frozenset[str]:
        """The group kinds that have a resolver."""
        return frozenset(self._by_kind)

    async def resolve(self, audience: Audience) -> tuple[str, ...]:
        """The recipients of ``audience``, each once, in the order first given.

        ``Users`` gives its ids; ``Group`` what its kind's resolver answers; ``Everyone``
        gives ``()`` (a broadcast is not stored per user). Raises ``UnknownGroup`` for a kind
        without a resolver, ``TypeError`` when a resolver yields a non-string id, and whatever
        the resolver raises.
        """
        match audience:
            case Users(ids):
                return tuple(dict.fromkeys(ids))
            case Group(kind, group_id):
                resolver = self._by_kind.get(kind)
                if resolver is None:
                    raise UnknownGroup(f"no resolver registered for group kind {kind!r}")
                return _unique(await resolver(group_id), kind)
            case Everyone():
                return ()


def load_resolvers(path: str | None) -> Resolvers:
    """Load the host application's resolvers from ``"module:attribute"``.

    ``None`` gives an empty ``Resolvers`` (group audiences then fail as ``UnknownGroup``).
    The attribute may be a ``Resolvers`` instance or a zero-argument callable returning one.
    Raises ``ConfigurationError`` naming what is wrong when neither can be obtained.
    """
    if path is None:
        return Resolvers()
    target = import_attribute(path, "TIDINGS_RESOLVERS")
    if isinstance(target, Resolvers):
        return target
    if callable(target):
        try:
            produced = target()
        except Exception as error:
            raise ConfigurationError(
                f"TIDINGS_RESOLVERS: calling {path!r} failed: {type(error).__name__}"
            ) from error
        if isinstance(produced, Resolvers):
            return produced
        raise ConfigurationError(
            f"TIDINGS_RESOLVERS: {path!r} returned {type(produced).__name__}, not Resolvers"
        )
    raise ConfigurationError(
        f"TIDINGS_RESOLVERS: {path!r} is a {type(target).__name__}, "
        "not a Resolvers instance or a callable returning one"
    )
