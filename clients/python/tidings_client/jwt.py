"""Reading a JWT's ``exp`` without verifying it: the client only needs to know when to
refresh. The server verifies every token it is given."""

import base64
import binascii
import json
import math


def token_expiry(token: str) -> float | None:
    """The payload's ``exp`` (seconds since the epoch), or None when absent or unreadable."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    segment = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        payload = json.loads(base64.urlsafe_b64decode(segment))
    except (binascii.Error, ValueError):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        return None
    return float(exp)


def refresh_time(exp: float, now: float, lead: float) -> float:
    """When to refresh a token expiring at ``exp``, seen at ``now`` (seconds): ``lead``
    before expiry, or halfway through what is left when that is shorter, so short-lived
    tokens are refreshed in time too."""
    remaining = exp - now
    if remaining <= 0:
        return now
    return exp - min(lead, remaining / 2)
