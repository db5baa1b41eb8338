"""W3C trace context: distlog trees as OpenTelemetry traces.

The mapping is the one distlogd's `otlp` sink uses (docs/otlp.md):

- trace id: a root task id that is a UUID, or a UUID followed by `.` and
  more, is its own 16 bytes; any other root, the first 16 bytes of the
  SHA-256 of its text;
- span id of a scope (`<root>[/<n>]*`): the first 8 bytes of the SHA-256 of
  its text.

A task started from an incoming `traceparent` gets the root
`<trace-id as UUID>.<16 random hex digits>`: the trace id is the caller's,
and two tasks joining the same trace still get trees of their own.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from typing import NamedTuple, Optional

__all__ = ["TraceParent", "bridged_root", "parse_traceparent", "span_id", "trace_id", "traceparent_of"]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# version-traceid-parentid-flags, lowercase hex (W3C Trace Context, level 1).
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


def _not_zero(b: bytes) -> bytes:
    return b if any(b) else b[:-1] + b"\x01"


def trace_id(root: str) -> str:
    """The trace id (32 hex digits) of the tree whose root task id is `root`."""
    head = root[:36]
    if (len(root) == 36 or root[36:37] == ".") and _UUID.match(head):
        b = uuid.UUID(head).bytes
        if any(b):
            return b.hex()
    return _not_zero(hashlib.sha256(root.encode("utf-8")).digest()[:16]).hex()


def span_id(scope_id: str) -> str:
    """The span id (16 hex digits) of the scope `scope_id` (`<root>[/<n>]*`)."""
    return _not_zero(hashlib.sha256(scope_id.encode("utf-8")).digest()[:8]).hex()


def traceparent_of(scope_id: str) -> str:
    """The `traceparent` header naming the scope's span."""
    root = scope_id.split("/", 1)[0]
    return f"00-{trace_id(root)}-{span_id(scope_id)}-01"


class TraceParent(NamedTuple):
    trace_id: str
    parent_id: str
    flags: str


def parse_traceparent(header: Optional[str]) -> Optional[TraceParent]:
    """The parts of a `traceparent` header, or None when it is absent or not
    valid (W3C: the receiver then starts a trace of its own)."""
    if not isinstance(header, str):
        return None
    m = _TRACEPARENT.match(header.strip())
    if m is None:
        return None
    version, trace, parent, flags, rest = m.groups()
    # Version ff is invalid; version 00 has no more fields; later versions
    # may add fields after a dash.
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace == "0" * 32 or parent == "0" * 16:
        return None
    return TraceParent(trace, parent, flags)


def bridged_root(parent: TraceParent) -> str:
    """A fresh root task id in the caller's trace."""
    return f"{uuid.UUID(hex=parent.trace_id)}.{secrets.token_hex(8)}"
