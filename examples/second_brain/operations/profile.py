"""The catalog's ``profile`` and ``appearance`` modules: display name, avatar, banner, theme."""

from typing import Final

from examples.second_brain.domain import (
    APPEARANCE_SLOTS,
    AppearanceSlot,
    DomainError,
    is_appearance_slot,
)
from examples.second_brain.operations.common import Work
from examples.second_brain.ports import Tx
from tidings import Users

MAX_DISPLAY_NAME: Final = 64
# The client application whose appearance settings change (the catalog's ``app_key``).
APP_KEY: Final = "second_brain_web"


def update_profile(username: str, display_name: str) -> Work:
    """Change the display name; every session of the user hears of it (``profile_updated``,
    the acting one included)."""
    display_name = display_name.strip()
    if not 0 < len(display_name) <= MAX_DISPLAY_NAME:
        message = f"display name must be 1-{MAX_DISPLAY_NAME} characters"
        raise DomainError(400, "invalid_display_name", message, field="display_name")

    async def work(tx: Tx) -> dict[str, object]:
        await tx.set_display_name(username, display_name)
        await tx.emit(
            "profile_updated",
            {"updated_fields": ["display_name"], "message": f"Display name is now {display_name}"},
            to=Users((username,)),
        )
        return {"display_name": display_name}

    return work


def set_appearance(username: str, slot: str, item_id: str, origin_session: str | None) -> Work:
    """Use a shop item of the matching type as avatar, banner or theme; the user's other
    sessions hear of it (``appearance_updated`` with ``origin_session``)."""
    if not is_appearance_slot(slot):
        message = f"updated_item must be one of {', '.join(APPEARANCE_SLOTS)}"
        raise DomainError(400, "invalid_appearance_item", message, field="updated_item")
    checked: AppearanceSlot = slot

    async def work(tx: Tx) -> dict[str, object]:
        item = await tx.shop_item(item_id)
        if item is None:
            raise DomainError(404, "unknown_item", "there is no such item", field="item_id")
        if item.item_type != checked:
            message = f"{item.name} is a {item.item_type}, not a {checked}"
            raise DomainError(400, "wrong_item_type", message, field="item_id")
        await tx.set_appearance(username, checked, item_id)
        await tx.emit(
            "appearance_updated",
            {"app_key": APP_KEY, "updated_item": checked, "new_item_id": item_id},
            to=Users((username,)),
            origin_session=origin_session,
        )
        return {"updated_item": checked, "new_item_id": item_id}

    return work
