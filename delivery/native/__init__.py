"""``tidings serve``'s own WebSocket runtime (see :mod:`delivery.native.protocol`)."""

from delivery.native.protocol import NativeWebSocket, native_protocol

__all__ = ["NativeWebSocket", "native_protocol"]
