"""The runner's side of the conversation, as bytes on its channel pipe, parsed with size caps.

    ready                       torch and the probes imported: the sandbox works (no student code ran yet)
    start KEY                   a case begins (its time limit starts)
    result KEY LENGTH\\n<bytes>  the torch.save bytes of the case's outcome
    done KEY                    the case ended
    end                         every case of the job ended

Anything else on the channel is student code writing to it: the run is killed.
"""
from __future__ import annotations

MAX_RESULT_BYTES = 64 * 2**20
MAX_CHANNEL_BYTES = 256 * 2**20
MAX_LINE = 300


class ProtocolError(Exception):
    """The runner's channel carried something that is not the protocol (student code wrote to it).

    `events` are the frames that came before it in the same read: a busy reader gets "ready" and the
    student's forged frame in one chunk, and "ready" still happened (no student code ran before it)."""

    def __init__(self, message: str, events: list[tuple] | None = None):
        super().__init__(message)
        self.events = events or []


class Channel:
    """Turns the channel's bytes, as they arrive, into events, in the only order the runner writes
    them: start K, one result K, done K. A frame out of that order, or a second result for a case,
    was written by the student code (straight onto the channel's descriptor): the run fails closed."""

    def __init__(self):
        self.buffer = bytearray()
        self.total = 0
        self.current = None         # the case started and not yet done
        self.answered = False       # whether it has its result
        self.seen = set()

    def feed(self, data: bytes) -> list[tuple]:
        """Events so far: ("ready",), ("start", key), ("done", key), ("result", key, bytes)."""
        self.total += len(data)
        if self.total > MAX_CHANNEL_BYTES:
            raise ProtocolError(f"sent more than {MAX_CHANNEL_BYTES >> 20} MB of results")
        self.buffer += data
        events = []
        try:
            return self._parse(events)
        except ProtocolError as e:
            e.events = events
            raise

    def _parse(self, events: list[tuple]) -> list[tuple]:
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
                self._expect(words[1] == self.current and not self.answered)
                self.answered = True
                events.append(("result", words[1], bytes(self.buffer[end + 1:end + 1 + size])))
                del self.buffer[:end + 1 + size]
            elif words[0] == "start" and len(words) == 2:
                self._expect(self.current is None and words[1] not in self.seen)
                self.current, self.answered = words[1], False
                self.seen.add(words[1])
                events.append(tuple(words))
                del self.buffer[:end + 1]
            elif words[0] == "done" and len(words) == 2:
                self._expect(words[1] == self.current and self.answered)
                self.current = None
                events.append(tuple(words))
                del self.buffer[:end + 1]
            elif words == ["ready"] or words == ["end"]:
                self._expect(self.current is None)
                events.append(tuple(words))
                del self.buffer[:end + 1]
            else:
                raise ProtocolError("wrote something that is not the grader's protocol")

    @staticmethod
    def _expect(in_order: bool):
        if not in_order:
            raise ProtocolError("wrote a frame of the grader's protocol out of order (a forged or second result)")
