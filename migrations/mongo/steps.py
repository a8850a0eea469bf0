"""What a MongoDB migration may do, as data: the store's schema module carries it out."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Index:
    """An index to create: its name, keys in order (1 ascending), uniqueness, and the filter
    of a partial index (``None``: every document)."""

    name: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False
    partial: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CreateCollections:
    """Create these collections when missing (a transaction may not create one)."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CreateIndexes:
    """Create these indexes on ``collection``."""

    collection: str
    indexes: tuple[Index, ...]


@dataclass(frozen=True, slots=True)
class DeleteMany:
    """Delete the documents of ``collection`` that match ``filter``."""

    collection: str
    filter: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DropIndex:
    """Drop the index ``name`` of ``collection`` if it exists."""

    collection: str
    name: str


@dataclass(frozen=True, slots=True)
class UpdateMany:
    """Update the documents of ``collection`` that match ``filter`` with an update pipeline."""

    collection: str
    filter: Mapping[str, Any]
    pipeline: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Aggregate:
    """Run an aggregation pipeline on ``collection`` for its effect (it ends in ``$merge``)."""

    collection: str
    pipeline: tuple[Mapping[str, Any], ...]


type Step = CreateCollections | CreateIndexes | DeleteMany | DropIndex | UpdateMany | Aggregate


@dataclass(frozen=True, slots=True)
class MongoMigration:
    """One schema version: its steps bring a database from ``version - 1`` to ``version``."""

    version: int
    name: str
    steps: tuple[Step, ...]
