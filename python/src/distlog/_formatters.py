"""Serialising a LogRecord into the body the tutorial shows."""

from __future__ import annotations

import datetime
import json
import logging
import pickle
import socket
from typing import Any, Dict

from ._scope import current_context

__all__ = ["JSONFormatter", "PickleFormatter", "record_body"]

HOSTNAME = socket.gethostname()
_SCALARS = (type(None), bool, int, float, str)


def record_body(formatter: logging.Formatter, record: logging.LogRecord) -> Dict[str, Any]:
    """`record.__dict__` after formatting, as the tutorial sends it: the
    formatted message in `msg` and `message`, `args` and `exc_info` null,
    the traceback in `exc_text`, plus `hostname` and `context`."""
    attach_context(record)
    body = dict(record.__dict__)
    message = record.getMessage()
    body["message"] = message
    body["msg"] = message
    body["args"] = None
    body["asctime"] = formatter.formatTime(record)
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    body["exc_text"] = record.exc_text
    body["exc_info"] = None
    body["hostname"] = HOSTNAME
    return body


def attach_context(record: logging.LogRecord) -> None:
    """Gives the record its scope's context and key, once: a second distlog
    handler sees the same key."""
    if "context" not in record.__dict__:
        record.context = current_context()


def _text(value: Any) -> str:
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


class JSONFormatter(logging.Formatter):
    """Encodes records as JSON (topic encoding `J`). Values JSON cannot hold
    are sent as their ISO text (dates and times) or their `repr`."""

    encoding = b"J"

    def format(self, record: logging.LogRecord) -> str:
        return self.encode(record).decode("utf-8")

    def encode(self, record: logging.LogRecord) -> bytes:
        body = record_body(self, record)
        try:
            text = json.dumps(body, ensure_ascii=False, default=_text, check_circular=False)
        except (TypeError, ValueError, RecursionError):
            # Keys JSON cannot hold, or a value that refers to itself.
            text = json.dumps(_plain(body, 0, json_keys=True), ensure_ascii=False)
        return text.encode("utf-8")


class PickleFormatter(logging.Formatter):
    """Encodes records as pickles (topic encoding `P`) of plain data only:
    distlogd refuses anything that would need code to rebuild, so every
    other value is sent as text."""

    encoding = b"P"

    def __init__(self, protocol: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0 <= protocol <= pickle.HIGHEST_PROTOCOL:
            raise ValueError(f"pickle protocol must be 0..{pickle.HIGHEST_PROTOCOL}, not {protocol}")
        self.protocol = protocol

    def format(self, record: logging.LogRecord) -> str:
        return repr(self.encode(record))

    def encode(self, record: logging.LogRecord) -> bytes:
        body = _plain(record_body(self, record), self.protocol, json_keys=False)
        return pickle.dumps(body, protocol=self.protocol)


def _plain(value: Any, protocol: int, *, json_keys: bool, depth: int = 0) -> Any:
    """Only what both JSON and a data-only pickle decoder can carry."""
    if isinstance(value, _SCALARS):
        return value
    if depth > 50:
        return _text(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = k if isinstance(k, str) or (not json_keys and isinstance(k, (int, float))) else _text(k)
            out[key] = _plain(v, protocol, json_keys=json_keys, depth=depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        items = [_plain(v, protocol, json_keys=json_keys, depth=depth + 1) for v in value]
        return items if isinstance(value, list) or json_keys else tuple(items)
    if isinstance(value, (set, frozenset)):
        # Sets pickle as a call to a global before protocol 4.
        return [_plain(v, protocol, json_keys=json_keys, depth=depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray)) and not json_keys and protocol >= 3:
        return bytes(value)
    return _text(value)
