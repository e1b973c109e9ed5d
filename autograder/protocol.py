"""The runner's side of the conversation, as bytes on its channel pipe, parsed with size caps.

    ready                       torch and the probes imported: the sandbox works (no student code ran yet)
    start KEY                   a case begins (its time limit starts)
    result KEY LENGTH\\n<bytes>  the torch.save bytes of the case's outcome
    done KEY                    the case ended

Anything else on the channel is student code writing to it: the run is killed.
"""
from __future__ import annotations

MAX_RESULT_BYTES = 64 * 2**20
MAX_CHANNEL_BYTES = 256 * 2**20
MAX_LINE = 300


class ProtocolError(Exception):
    """The runner's channel carried something that is not the protocol (student code wrote to it)."""


class Channel:
    """Turns the channel's bytes, as they arrive, into events."""

    def __init__(self):
        self.buffer = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> list[tuple]:
        """Events so far: ("ready",), ("start", key), ("done", key), ("result", key, bytes)."""
        self.total += len(data)
        if self.total > MAX_CHANNEL_BYTES:
            raise ProtocolError(f"sent more than {MAX_CHANNEL_BYTES >> 20} MB of results")
        self.buffer += data
        events = []
        while True:
            end = self.buffer.find(b"\n", 0, MAX_LINE)
            if end < 0:
                if len(self.buffer) >= MAX_LINE:
                    raise ProtocolError("wrote something that is not the grader's protocol")
                return events
            words = self.buffer[:end].decode(errors="replace").split(" ")
            if words[0] == "result" and len(words) == 3 and words[2].isdigit():
                size = int(words[2])
                if size > MAX_RESULT_BYTES:
                    raise ProtocolError(f"sent a result larger than {MAX_RESULT_BYTES >> 20} MB")
                if len(self.buffer) < end + 1 + size:
                    return events
                events.append(("result", words[1], bytes(self.buffer[end + 1:end + 1 + size])))
                del self.buffer[:end + 1 + size]
            elif words[0] in ("start", "done") and len(words) == 2 or words == ["ready"]:
                events.append(tuple(words))
                del self.buffer[:end + 1]
            else:
                raise ProtocolError("wrote something that is not the grader's protocol")
