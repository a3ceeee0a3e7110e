"""An incremental text/event-stream parser, by the WHATWG HTML rules.

Debian packages no SSE library for Python (httpx-sse is PyPI only), and
httpx's own line iterators differ between versions (some keep the line
end), so Runnel parses the stream itself, from bytes: lines end with LF, CR
or CRLF (a CRLF may be split across reads); a leading BOM is dropped;
comment lines are ignored; data lines are joined with LF; an id containing
NUL is ignored; an event without data, or one the stream ends before
terminating, is not dispatched. The cases are those of the Go reader's
tests (sse/sse_test.go).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import List, Optional

__all__ = ["Event", "Parser", "MAX_EVENT_SIZE"]

# MAX_EVENT_SIZE bounds one event (all its lines), as the Go reader does.
MAX_EVENT_SIZE = 1 << 20


@dataclass(frozen=True)
class Event:
    """One dispatched event."""

    data: str
    event: str = "message"
    # id is the stream's last event id when the event was dispatched: the
    # value a reconnecting client sends as Last-Event-ID.
    id: str = ""
    # retry is the reconnection delay in milliseconds set in this event's
    # block, or None.
    retry: Optional[int] = None


class EventTooLong(ValueError):
    """An event exceeded MAX_EVENT_SIZE."""


class Parser:
    """Feed it the body's bytes as they arrive; it returns whole events."""

    def __init__(self, max_event_size: int = MAX_EVENT_SIZE) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max = max_event_size
        self._started = False  # the BOM check is done
        self._skip_lf = False  # the last line ended with CR: an LF next belongs to it
        self._line: List[str] = []  # the unterminated line so far
        self._line_len = 0
        self._data: List[str] = []
        self._has_data = False
        self._event = ""
        self._retry: Optional[int] = None
        self._size = 0
        self.last_id = ""

    def feed(self, chunk: bytes) -> List[Event]:
        """Parses chunk, returning the events it completes."""
        return self._feed_text(self._decoder.decode(chunk))

    def _feed_text(self, text: str) -> List[Event]:
        out: List[Event] = []
        if not self._started and text:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        i, n = 0, len(text)
        while i < n:
            if self._skip_lf:
                self._skip_lf = False
                if text[i] == "\n":
                    i += 1
                    continue
            # The next line end, CR or LF, whichever comes first.
            cr, lf = text.find("\r", i), text.find("\n", i)
            end = lf if cr < 0 else cr if lf < 0 else min(cr, lf)
            if end < 0:
                self._line.append(text[i:])
                self._line_len += n - i
                if self._line_len > self._max:
                    raise EventTooLong("sse: event too long")
                break
            if self._line:
                self._line.append(text[i:end])
                line = "".join(self._line)
                self._line, self._line_len = [], 0
            else:
                line = text[i:end]
            self._skip_lf = text[end] == "\r"
            i = end + 1
            ev = self._take_line(line)
            if ev is not None:
                out.append(ev)
        return out

    def _take_line(self, line: str) -> Optional[Event]:
        if not line:
            ev = None
            if self._has_data:
                ev = Event(data="\n".join(self._data), event=self._event or "message", id=self.last_id, retry=self._retry)
            self._data, self._has_data, self._event, self._retry, self._size = [], False, "", None, 0
            return ev
        self._size += len(line)
        if self._size > self._max:
            raise EventTooLong("sse: event too long")
        if line[0] == ":":
            return None
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
            self._has_data = True
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self.last_id = value
        elif field == "retry":
            if value and value.isascii() and value.isdigit():
                self._retry = int(value)
        return None
