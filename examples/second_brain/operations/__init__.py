"""The application's operations, one module per module of the event catalog: each changes
domain data and emits its notifications in one transaction, so both commit or neither does.

See ``common.py`` for the shape of an operation.
"""

from examples.second_brain.operations.auth import (
    change_password,
    hash_password,
    set_two_factor,
    sign_in,
)
from examples.second_brain.operations.common import Work
from examples.second_brain.operations.family import accept, decline, invite, leave, set_role
from examples.second_brain.operations.family_account import (
    request_tokens,
    review_request,
    set_frozen,
)
from examples.second_brain.operations.profile import set_appearance, update_profile
from examples.second_brain.operations.sbd_tokens import transfer
from examples.second_brain.operations.shop import add_shop_item, buy_for_family

__all__ = [
    "Work",
    "accept",
    "add_shop_item",
    "buy_for_family",
    "change_password",
    "decline",
    "hash_password",
    "invite",
    "leave",
    "request_tokens",
    "review_request",
    "set_appearance",
    "set_frozen",
    "set_role",
    "set_two_factor",
    "sign_in",
    "transfer",
    "update_profile",
]
