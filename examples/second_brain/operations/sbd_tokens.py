"""The catalog's ``sbd_tokens`` module: token transfers between users."""

from examples.second_brain.domain import DomainError
from examples.second_brain.operations.common import Work, check_amount, existing_user
from examples.second_brain.ports import Tx
from tidings import Users


def transfer(sender: str, receiver: str, amount: int) -> Work:
    """Move ``amount`` SBD tokens; both parties learn their new balance (``sbd_tokens_sent``
    to the sender, ``sbd_tokens_received`` to the receiver)."""
    check_amount(amount)
    if sender == receiver:
        raise DomainError(400, "self_transfer", "cannot send tokens to yourself", field="to")

    async def work(tx: Tx) -> dict[str, object]:
        await existing_user(tx, receiver, field="to")
        sender_balance = await tx.debit(sender, amount)
        if sender_balance is None:
            raise DomainError(409, "insufficient_funds", "not enough SBD tokens", field="amount")
        receiver_balance = await tx.credit(receiver, amount)
        await tx.emit(
            "sbd_tokens_sent",
            {"to_username": receiver, "amount": amount, "new_balance": sender_balance},
            to=Users((sender,)),
        )
        await tx.emit(
            "sbd_tokens_received",
            {"from_username": sender, "amount": amount, "new_balance": receiver_balance},
            to=Users((receiver,)),
        )
        return {"new_balance": sender_balance}

    return work
