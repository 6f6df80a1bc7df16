"""Log lines (text or JSON, to stderr) and the live progress line (stdout, terminals only).

Events carry their figures as ``extra`` fields (``log.info("frame encoded", extra={...})``):
the JSON format writes them as keys, one object per line, for a log shipper; the text format
appends them as ``key=value``. stderr keeps stdout free for the progress line and suits both
journald and container runtimes.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import TextIO

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def extras(record: logging.LogRecord) -> dict[str, object]:
    """The ``extra`` fields a record was logged with."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **extras(record),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """``ts LEVEL logger: message key=value …``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in extras(record).items())
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        line = f"{line} {fields}" if fields else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class ProgressLine:
    """A status line redrawn in place; log lines written meanwhile appear above it."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lock = threading.Lock()
        self.text = ""

    def show(self, text: str) -> None:
        with self.lock:
            self.text = text
            self.stream.write(f"\r{text}\x1b[K")
            self.stream.flush()

    def clear(self) -> None:
        """Erase the line (before a log line, or at exit)."""
        with self.lock:
            if self.text:
                self.stream.write("\r\x1b[K")
                self.stream.flush()


class _ProgressAwareHandler(logging.StreamHandler):
    """Erases the progress line before each log line so the two do not garble each other."""

    def __init__(self, stream: TextIO, progress: ProgressLine) -> None:
        super().__init__(stream)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        self.progress.clear()
        super().emit(record)


def setup_logging(level: str, fmt: str, progress: ProgressLine | None = None) -> None:
    """Route every logger to stderr in ``fmt`` ('text' or 'json') at ``level``."""
    handler = (
        _ProgressAwareHandler(sys.stderr, progress)
        if progress is not None
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
