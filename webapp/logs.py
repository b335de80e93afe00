"""Log output for the server process: readable lines, or one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JSONFormatter(logging.Formatter):
    """One JSON object per line, with the request fields passed through `extra=`."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger [request id] message`."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(rid)s%(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        record.rid = f"[{request_id}] " if request_id else ""
        return super().format(record)


def configure(level: str = "info", as_json: bool = False) -> None:
    """Send every log record to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if as_json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries' routine chatter stays out unless asked for; their warnings still come through.
    if root.level > logging.DEBUG:
        for name in ("apscheduler", "alembic.runtime.plugins"):
            logging.getLogger(name).setLevel(logging.WARNING)
    # waitress logs every queue hiccup at WARNING; its errors still come through.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
