"""Serialising a LogRecord into the body the tutorial shows."""

from __future__ import annotations

import datetime
import json
import logging
import math
import pickle
import socket
import time
from typing import Any, Dict

from ._scope import current_context

__all__ = ["JSONFormatter", "PickleFormatter", "ScopeFilter", "record_body"]

HOSTNAME = socket.gethostname()
_SCALARS = (type(None), bool, int, float, str)


def record_body(formatter: logging.Formatter, record: logging.LogRecord) -> Dict[str, Any]:
    """`record.__dict__` after formatting, as the tutorial sends it: the
    formatted message in `msg` and `message`, `args` and `exc_info` null,
    the traceback in `exc_text`, plus `hostname` and `context`."""
    attach_context(record)
    body = dict(record.__dict__)
    try:
        message = record.getMessage()
    except Exception as e:
        # logging itself would print a traceback and lose the record; the
        # template and the reason tell the reader more than nothing does.
        message = f"{_text(record.msg)} [distlog: could not format the message with its args: {e!r}]"
    body["message"] = message
    body["msg"] = message
    body["args"] = None
    body["asctime"] = _asctime(formatter, record)
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    body["exc_text"] = record.exc_text
    body["exc_info"] = None
    body["hostname"] = HOSTNAME
    return body


_second_cache: Dict[int, str] = {}


def _asctime(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    """`formatTime` as logging's default does, with the costly `strftime`
    done once per second rather than once per record."""
    if type(formatter).formatTime is not logging.Formatter.formatTime or formatter.datefmt:
        return formatter.formatTime(record)
    second = int(record.created)
    text = _second_cache.get(second)
    if text is None:
        text = time.strftime(formatter.default_time_format, formatter.converter(record.created))
        if len(_second_cache) > 4:
            _second_cache.clear()
        _second_cache[second] = text
    msec_format = formatter.default_msec_format
    return msec_format % (text, record.msecs) if msec_format else text


def attach_context(record: logging.LogRecord) -> None:
    """Gives the record its scope's context and key, once: a second distlog
    handler sees the same key. distlog's record factory has done so where
    the record was created, unless a factory set later replaced it without
    chaining to it."""
    if "context" not in record.__dict__:
        record.context = current_context()


class ScopeFilter(logging.Filter):
    """Gives each record its scope (context and key) where it is logged.

    distlog's record factory attaches the scope where a record is created.
    If a record factory installed later does not chain to it, a `ZmqHandler`
    reads the scope on the thread that handles the record, which is the
    logging thread unless something moves records elsewhere first: add this
    filter to that something (a `QueueHandler` feeding a `QueueListener`,
    say), so the scope travels with the record. It lets every record
    through."""

    def filter(self, record: logging.LogRecord) -> bool:
        attach_context(record)
        return True


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
        return self.encode_body(record_body(self, record))

    def encode_body(self, body: Dict[str, Any]) -> bytes:
        try:
            text = _JSON.encode(body)
        except (TypeError, ValueError, RecursionError):
            # Keys JSON cannot hold, NaN or infinity (strict JSON parsers,
            # distlogd's among them, refuse them), or a value that refers
            # to itself.
            text = _JSON.encode(_plain(body, 0, json_keys=True))
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (from bytes decoded with surrogateescape)
            # have no UTF-8; they become "?" rather than lose the record.
            return text.encode("utf-8", "replace")


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

    def format(self, record: logging.LogRecord) -> bytes:  # type: ignore[override]
        """The pickle itself, as the original distlog returned it:
        `pickle.loads(formatter.format(record))` gives the body. Bytes, not
        text: a text form of a pickle is something nobody can load."""
        return self.encode(record)

    def encode(self, record: logging.LogRecord) -> bytes:
        return self.encode_body(record_body(self, record))

    def encode_body(self, body: Dict[str, Any]) -> bytes:
        return pickle.dumps(_plain(body, self.protocol, json_keys=False), protocol=self.protocol)


_JSON = json.JSONEncoder(
    ensure_ascii=False, check_circular=False, allow_nan=False, default=_text, separators=(",", ":")
)
_SCALAR_TYPES = frozenset(_SCALARS)


def _plain(value: Any, protocol: int, *, json_keys: bool, depth: int = 0) -> Any:
    """Only what both JSON and a data-only pickle decoder can carry."""
    if type(value) in _SCALAR_TYPES:
        if json_keys and type(value) is float and not math.isfinite(value):
            return repr(value)
        return value
    if type(value) is dict and all(
        type(k) is str and type(v) in _SCALAR_TYPES and (type(v) is not float or math.isfinite(v))
        for k, v in value.items()
    ):
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
