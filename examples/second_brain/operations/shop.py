"""The catalog's ``shop`` module: new items for everyone, purchases for a family."""

import secrets

from examples.second_brain.domain import DomainError, ItemType, Purchase, ShopItem
from examples.second_brain.operations.common import Work, membership_of, open_account
from examples.second_brain.ports import Tx
from tidings import Everyone, Group


def add_shop_item(name: str, item_type: ItemType, price: int) -> Work:
    """Put an item in the shop and tell everyone connected (``shop_updated``, a best-effort
    broadcast)."""

    async def work(tx: Tx) -> dict[str, object]:
        item = ShopItem(f"{item_type}-{secrets.token_hex(4)}", name, item_type, price)
        await tx.add_shop_item(item)
        new_item = {"item_id": item.id, "name": name, "item_type": item_type, "price": price}
        await tx.emit("shop_updated", {"new_items": [new_item], "updated_items": []}, to=Everyone())
        return {"item_id": item.id}

    return work


def buy_for_family(purchaser: str, item_id: str) -> Work:
    """Buy a shop item with the family account: every member gets ``family_shop_purchase``.
    Any member may buy while the account is open and holds the price."""

    async def work(tx: Tx) -> dict[str, object]:
        member = await membership_of(tx, purchaser)
        item = await tx.shop_item(item_id)
        if item is None:
            raise DomainError(404, "unknown_item", "there is no such item", field="item_id")
        await open_account(tx, member.family_id, field="item_id")
        balance = await tx.add_to_account(member.family_id, -item.price)
        if balance is None:
            message = f"the family account cannot pay {item.price} SBD"
            raise DomainError(409, "insufficient_family_funds", message, field="item_id")
        purchase = Purchase(
            f"buy-{secrets.token_hex(6)}", member.family_id, purchaser, item.id, item.price
        )
        await tx.add_purchase(purchase)
        await tx.emit(
            "family_shop_purchase",
            {
                "family_id": member.family_id,
                "purchaser_username": purchaser,
                "item_id": item.id,
                "item_type": item.item_type,
                "price": item.price,
            },
            to=Group("family", member.family_id),
        )
        return {"purchase_id": purchase.id, "family_balance": balance}

    return work
