"""What the native runtime writes itself: server text frames, and the answers to upgrade
requests it refuses.

A server's frames are not masked, so a text frame is a 2, 4 or 10 byte header before the
payload; framing it here costs a fraction of building websockets' ``Frame`` for it, and is
only done when no extension (permessage-deflate) was negotiated.
"""

import struct
from typing import Final

from uvicorn.config import Config
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

from delivery.transport import BAD_REQUEST, HEAD_TOO_LARGE, raw_response

WS_PATH: Final = "/ws"
CLOSE_INVALID_DATA: Final = 1007

_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")
_TEXT_FIN = 0x81  # FIN, opcode 1 (text)

NOT_FOUND: Final = raw_response(
    404,
    "Not Found",
    b'{"code":"not_found","message":"no WebSocket endpoint at this path"}',
)
HEAD_TOO_LARGE_RESPONSE: Final = raw_response(
    431, "Request Header Fields Too Large", HEAD_TOO_LARGE
)
BAD_REQUEST_RESPONSE: Final = raw_response(400, "Bad Request", BAD_REQUEST)


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame (what a server sends) carrying ``payload``."""
    size = len(payload)
    if size < 126:
        return _SHORT.pack(_TEXT_FIN, size) + payload
    if size < 65536:
        return _MEDIUM.pack(_TEXT_FIN, 126, size) + payload
    return _LONG.pack(_TEXT_FIN, 127, size) + payload


def extensions(config: Config) -> list[ServerPerMessageDeflateFactory]:
    """The extensions to negotiate: permessage-deflate as uvicorn's own protocol offers it,
    unless ``ws_per_message_deflate`` is off."""
    if not config.ws_per_message_deflate:
        return []
    return [
        ServerPerMessageDeflateFactory(
            server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5}
        )
    ]
