"""The host application's event catalog, as the example app emits it.

One entry per event of the catalog the project serves (``shared/spec/events.md``): its
module, who receives it (the catalog's words, and how this app addresses them), and the exact
fields of ``data``. Both storage adapters check every emit against it, so an operation cannot
emit an event that is not here or with other fields; the tests compare it with the shared
catalog and with what the operations emit.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

Route = Literal[
    "user",  # Users((username,)), no origin: every session of the user
    "other_sessions",  # Users((username,)) with origin_session: the acting tab hides it
    "family",  # Group("family", family_id): the members, resolved after the commit
    "family_admins",  # Group("family_admins", family_id)
    "invitation_admins",  # Group("invitation_admins", invitation_id): inviter + admins
    "everyone",  # Everyone(): a best-effort live broadcast
]


@dataclass(frozen=True)
class EventSpec:
    """One event: its catalog module, audience (the catalog's words), route and data fields."""

    module: str
    audience: str
    route: Route
    fields: tuple[str, ...]


def _spec(module: str, audience: str, route: Route, *fields: str) -> EventSpec:
    return EventSpec(module, audience, route, fields)


EVENTS: Final[Mapping[str, EventSpec]] = {
    "password_changed": _spec("auth", "the user's other sessions", "other_sessions", "message"),
    "two_factor_changed": _spec("auth", "all the user's sessions", "user", "enabled"),
    "new_device_login": _spec(
        "auth", "the user's other sessions", "other_sessions", "device", "ip", "user_agent", "at"
    ),
    "family_invitation_received": _spec(
        "family", "the invitee", "user", "invitation_id", "family_name", "inviter_username"
    ),
    "family_invitation_responded": _spec(
        "family",
        "the inviter and the other family admins",
        "invitation_admins",
        "invitation_id",
        "invitee_username",
        "action",
    ),
    "family_member_joined": _spec(
        "family", "all family members", "family", "family_id", "new_member_username"
    ),
    "family_member_left": _spec(
        "family", "all family members", "family", "family_id", "member_username"
    ),
    "role_changed": _spec(
        "family",
        "the affected user; the other members get a notice too",
        "family",
        "family_id",
        "new_role",
    ),
    "token_request_created": _spec(
        "family", "family admins", "family_admins", "request_id", "requester_username", "amount"
    ),
    "token_request_reviewed": _spec(
        "family", "the requester", "user", "request_id", "status", "reviewer_username"
    ),
    "family_account_status_changed": _spec(
        "family", "all family members", "family", "family_id", "is_frozen"
    ),
    "family_shop_purchase": _spec(
        "shop",
        "all family members",
        "family",
        "family_id",
        "purchaser_username",
        "item_id",
        "item_type",
        "price",
    ),
    "shop_updated": _spec(
        "shop",
        "everyone connected (best-effort broadcast)",
        "everyone",
        "new_items",
        "updated_items",
    ),
    "sbd_tokens_received": _spec(
        "sbd_tokens", "the receiver", "user", "from_username", "amount", "new_balance"
    ),
    "sbd_tokens_sent": _spec(
        "sbd_tokens", "the sender", "user", "to_username", "amount", "new_balance"
    ),
    "profile_updated": _spec(
        "profile", "all the user's sessions", "user", "updated_fields", "message"
    ),
    "appearance_updated": _spec(
        "appearance",
        "the user's other sessions",
        "other_sessions",
        "app_key",
        "updated_item",
        "new_item_id",
    ),
}


def check_event(event: str, data: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` unless ``event`` is in :data:`EVENTS` and ``data`` has exactly
    its fields (a programming error in an operation, never a user's)."""
    spec = EVENTS.get(event)
    if spec is None:
        raise ValueError(f"{event!r} is not an event of the catalog")
    if set(data) != set(spec.fields):
        raise ValueError(f"{event!r} data must have exactly {spec.fields}, got {tuple(data)}")
