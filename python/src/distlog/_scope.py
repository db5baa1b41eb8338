"""Scopes: the tree of tasks and subtasks, kept per thread and per asyncio task."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import itertools
import logging
import os
import re
import sys
import threading
import time
import uuid
from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, TypeVar

from ._trace import bridged_root, parse_traceparent, traceparent_of

__all__ = ["Task", "current_context", "from_traceparent", "import_task", "open_scopes", "task", "to"]

F = TypeVar("F", bound=Callable[..., Any])

_SCOPE_ID = re.compile(r"^[^\s@/]{1,128}(/[1-9][0-9]*)*$")


class Scope:
    """One open scope. Counters are `itertools.count`, whose `next` is atomic
    under the GIL, so threads sharing a scope never get the same key."""

    __slots__ = ("_children", "_opening", "_seq", "context", "id")

    def __init__(self, scope_id: str, context: Dict[str, Any]) -> None:
        self.id = scope_id
        self.context = context
        # Seq 0 belongs to the opening record, sent or not: the daemon takes
        # a record with seq 0 for the scope's opening.
        self._opening = True
        self._seq = itertools.count(1)
        self._children = itertools.count(1)

    def record_context(self) -> Dict[str, Any]:
        """The `context` of the scope's next record: its fields plus `key`."""
        ctx = dict(self.context)
        if self._opening:
            # Only the entering thread sees the scope until `__enter__` has
            # sent the opening record and cleared this flag: no race.
            self._opening = False
            ctx["key"] = f"0@{self.id}"
        else:
            ctx["key"] = f"{next(self._seq)}@{self.id}"
        return ctx

    def next_child(self) -> str:
        return f"{self.id}/{next(self._children)}"


_current: contextvars.ContextVar[Optional[Scope]] = contextvars.ContextVar("distlog_scope", default=None)


def current_context() -> Optional[Dict[str, Any]]:
    """The `context` for a record logged now: None outside any scope."""
    scope = _current.get()
    return None if scope is None else scope.record_context()


def _install_record_factory() -> None:
    """Every record gets `context` where it is created, so any handler or
    formatter (a StreamHandler's `%(context)s`, on any logger, before or
    after a distlog handler) finds it. Chains the factory in place, as
    OpenTelemetry's logging instrumentation does."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_distlog", False):
        return  # distlog imported twice (a reload): one key per record

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if "context" not in record.__dict__:
            record.context = current_context()
        return record

    factory._distlog = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_record_factory()


# Open scopes per thread, for heartbeats. A lock rather than a counter per
# thread: entering and leaving a scope is rare next to logging, and a scope
# may be left on another thread than it was entered on.
_open_lock = threading.Lock()
_open_by_thread: Dict[int, int] = {}
_open_total = 0
# When the process last went from no open scope to one (monotonic).
_busy_since = 0.0
# Called (outside the lock) when the process goes from no open scope to one:
# the handlers' senders start their thread so heartbeats go out even if no
# record is logged.
on_first_open: List[Callable[[], None]] = []


def open_scopes() -> Tuple[int, float]:
    """How many scopes are open in the process, and since when (monotonic)
    at least one has been."""
    return _open_total, _busy_since


def _opened(thread: int) -> None:
    global _open_total, _busy_since
    with _open_lock:
        _open_by_thread[thread] = _open_by_thread.get(thread, 0) + 1
        _open_total += 1
        first = _open_total == 1
        if first:
            _busy_since = time.monotonic()
    if first:
        for hook in on_first_open:
            # A heartbeat must not break the program's scope.
            with contextlib.suppress(Exception):
                hook()


def _closed(thread: int) -> None:
    global _open_total
    with _open_lock:
        n = _open_by_thread.get(thread, 0) - 1
        if n > 0:
            _open_by_thread[thread] = n
        else:
            _open_by_thread.pop(thread, None)
        _open_total = sum(_open_by_thread.values())


def _open_scopes_after_fork() -> None:
    # Only the forking thread lives on in the child, with its scopes; the
    # other threads' scopes will never close here. The lock may have been
    # held by one of them at the fork.
    global _open_lock, _open_by_thread, _open_total
    _open_lock = threading.Lock()
    me = threading.get_ident()
    mine = _open_by_thread.get(me, 0)
    _open_by_thread = {me: mine} if mine else {}
    _open_total = mine


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_open_scopes_after_fork)


_SCALAR_TYPES = frozenset((type(None), bool, int, float, str, bytes))


def _snapshot(value: Any, depth: int = 0) -> Any:
    """A copy of the containers in a context value, so a change the program
    makes after the call does not reach records encoded later on the sender
    thread. Other objects are shared: they are sent as text."""
    if type(value) in _SCALAR_TYPES or depth > 50:
        return value
    if isinstance(value, dict):
        return {k: _snapshot(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_snapshot(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(_snapshot(v, depth + 1) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(value) if isinstance(value, frozenset) else set(value)
    if isinstance(value, bytearray):
        return bytes(value)
    return value


def _snapshot_context(context: Dict[str, Any]) -> Dict[str, Any]:
    return {k: _snapshot(v) for k, v in context.items()}


# The logger scope records go to, as in the tutorial (`"name": "root"`).
_logger = logging.getLogger()


class Task:
    """A scope: a context manager (and decorator) that sends an opening
    record on entry and a closing (or failure) record on exit."""

    def __init__(
        self,
        msg: str,
        args: Tuple[Any, ...],
        context: Dict[str, Any],
        *,
        root: bool = False,
        scope_id: Optional[str] = None,
        parent_span: Optional[str] = None,
    ) -> None:
        self._msg = msg
        self._args = args
        self._context = _snapshot_context(context)
        self._root = root
        self._import_id = scope_id
        # The caller's span (from a `traceparent`), sent on the scope's
        # opening and closing records so the exported span hangs under it.
        self._parent_span = parent_span
        self._scope: Optional[Scope] = None
        self._token: Optional[contextvars.Token[Optional[Scope]]] = None
        self._success: Optional[Tuple[str, Tuple[Any, ...]]] = None
        self._started = 0.0
        self._caller: Optional[Tuple[str, int, str]] = None
        self._thread = 0

    @property
    def id(self) -> str:
        """The scope id (`<root-uuid>[/<n>]*`); available once entered."""
        if self._scope is None:
            raise RuntimeError("this task has not been entered yet (use it in a `with` statement)")
        return self._scope.id

    def traceparent(self) -> str:
        """A W3C `traceparent` header naming this scope's span, for the
        requests it makes: a service that continues it (OpenTelemetry, or
        `distlog.from_traceparent`) joins this tree's trace under this scope."""
        return traceparent_of(self.id)

    def success(self, msg: str, *args: Any) -> None:
        """The message of the closing record if the scope ends without an exception."""
        self._success = (msg, args)

    def bind(self, **context: Any) -> None:
        """Adds fields to the context of this scope's later records."""
        context = _snapshot_context(context)
        if self._scope is None:
            self._context.update(context)
        else:
            self._scope.context = {**self._scope.context, **context}

    def get_foreign_task(self) -> str:
        """Reserves the next subtask slot of this scope for another process,
        which continues it with `import_task(id, ...)`. Sends nothing."""
        if self._scope is None:
            raise RuntimeError("get_foreign_task() needs an entered task")
        return self._scope.next_child()

    def __enter__(self) -> Task:
        if self._scope is not None:
            raise RuntimeError("a Task can be entered once; call task()/to() again for a new scope")
        parent = _current.get()
        if self._import_id is not None:
            scope_id = self._import_id
        elif self._root or parent is None:
            scope_id = str(uuid.uuid4())
        else:
            scope_id = parent.next_child()
        scope = self._scope = Scope(scope_id, dict(self._context))
        self._token = _current.set(scope)
        self._started = time.monotonic()
        self._thread = threading.get_ident()
        _opened(self._thread)
        caller = self._caller or _caller_of(sys._getframe(1))
        self._caller = caller
        try:
            _emit(logging.INFO, self._msg, self._args, caller, self._scope_extra({"scope_event": "open"}))
        finally:
            # Seq 0 stays the opening record's even when it was filtered out.
            scope._opening = False
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        duration = time.monotonic() - self._started
        caller = self._caller or _caller_of(sys._getframe(1))
        # Before the closing record is queued, so no heartbeat counting this
        # scope follows it.
        _closed(self._thread)
        try:
            if exc_type is None:
                msg, args = self._success or (self._msg, self._args)
                extra = self._scope_extra({"scope_event": "close", "scope_duration": duration})
                _emit(logging.INFO, msg, args, caller, extra)
            else:
                extra = self._scope_extra({"scope_event": "fail", "scope_duration": duration})
                exc_info = (exc_type, exc, tb) if exc is not None else None
                _emit(logging.ERROR, self._msg, self._args, caller, extra, exc_info)
        finally:
            if self._token is not None:
                _current.reset(self._token)

    def _scope_extra(self, extra: Dict[str, Any]) -> Dict[str, Any]:
        if self._parent_span is not None:
            extra["parent_span_id"] = self._parent_span
        return extra

    def __call__(self, func: F) -> F:
        """As a decorator: every call of `func` runs in a new scope like this one."""
        where = (func.__code__.co_filename, func.__code__.co_firstlineno, func.__name__)
        # An imported slot is one scope: a second call would reuse its keys.
        calls = itertools.count()

        def fresh() -> Task:
            if self._import_id is not None and next(calls) > 0:
                raise RuntimeError(
                    f"distlog.import_task({self._import_id!r}, ...) decorates {func.__qualname__}, "
                    "which has run once already: a foreign slot is continued once, and a "
                    "second call would reuse its keys. Import a new slot per call instead: "
                    "`with distlog.import_task(task_id, ...):` inside the function, with a "
                    "task_id from get_foreign_task() for each call"
                )
            t = Task(
                self._msg,
                self._args,
                dict(self._context),
                root=self._root,
                scope_id=self._import_id,
                parent_span=self._parent_span,
            )
            t._caller = where
            return t

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*a: Any, **kw: Any) -> Any:
                with fresh():
                    return await func(*a, **kw)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*a: Any, **kw: Any) -> Any:
            with fresh():
                return func(*a, **kw)

        return run  # type: ignore[return-value]


def _caller_of(frame: Any) -> Tuple[str, int, str]:
    code = frame.f_code
    return (code.co_filename, frame.f_lineno, code.co_name)


def _emit(
    level: int,
    msg: str,
    args: Tuple[Any, ...],
    caller: Tuple[str, int, str],
    extra: Dict[str, Any],
    exc_info: Any = None,
) -> None:
    """Logs a scope record as if from `caller`, through the logger's own
    machinery (record factory, filters, handlers), never raising into the
    program."""
    if not _logger.isEnabledFor(level):
        return
    pathname, lineno, func = caller
    try:
        record = _logger.makeRecord(_logger.name, level, pathname, lineno, msg, args, exc_info, func, extra)
        _logger.handle(record)
    except Exception:  # a broken handler must not break the program's scope
        if logging.raiseExceptions:
            sys.stderr.write("distlog: could not log a scope record\n")


def task(msg: str, *args: Any, **context: Any) -> Task:
    """Starts a new root task: the outermost scope of a tree."""
    return Task(msg, args, context, root=True)


def to(msg: str, *args: Any, **context: Any) -> Task:
    """Starts a subtask of the current scope (a new root task if none is open).
    Its keyword arguments replace the parent's in the records' context."""
    return Task(msg, args, context)


def import_task(task_id: str, msg: str, *args: Any, **context: Any) -> Task:
    """Continues, in this process, the subtask slot that `get_foreign_task()`
    handed out elsewhere, so both processes' records form one tree. As a
    decorator, only the function's first call continues the slot; later
    calls raise RuntimeError (they would reuse its keys)."""
    if not isinstance(task_id, str) or not _SCOPE_ID.match(task_id):
        raise ValueError(f"not a distlog task id: {task_id!r} (expected <root-uuid>[/<n>]*)")
    return Task(msg, args, context, scope_id=task_id)


def from_traceparent(traceparent: Optional[str], msg: str, *args: Any, **context: Any) -> Task:
    """Starts a root task that joins the caller's trace (a W3C `traceparent`
    header): its records carry the caller's trace id, and its span hangs
    under the caller's span when distlogd exports to OpenTelemetry. Without
    a valid header (None, empty, malformed) it is a plain new root task, as
    W3C asks, so a handler can pass `request.headers.get("traceparent")` as
    it comes. As a decorator, each call needs its own header: use it in a
    `with` statement."""
    parent = parse_traceparent(traceparent)
    if parent is None:
        return Task(msg, args, context, root=True)
    return Task(msg, args, context, root=True, scope_id=bridged_root(parent), parent_span=parent.parent_id)
