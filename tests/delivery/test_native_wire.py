"""The native runtime's own framing: what a client's parser reads back, at every size."""

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from delivery.native.wire import text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frames_of_every_length_encoding_parse_back(size: int) -> None:
    payload = bytes(ord("a") + i % 26 for i in range(size))
    client = ClientProtocol(parse_uri("ws://127.0.0.1/ws"), state=State.OPEN, max_size=None)
    client.receive_data(text_frame(payload) + text_frame(b"next"))
    frames = client.events_received()
    assert client.parser_exc is None
    assert [(f.opcode, f.fin, bytes(f.data)) for f in frames if isinstance(f, Frame)] == [
        (Opcode.TEXT, True, payload),
        (Opcode.TEXT, True, b"next"),
    ]
