"""Log levels pushed by distlogd (docs/protocol.md, "Control: log levels").

A thread per control endpoint subscribes to distlogd's PUB socket and keeps
the settings that apply to this process (its host, pid and system). While
any apply, `logging.Logger.isEnabledFor` is wrapped: Python's logging drops
a record on the logger's level before any handler sees it, so lowering the
level for a logger or a task has to happen there. Without settings the
wrapper is not installed: a program that never hears from distlogd runs the
stock `logging` code, at the stock cost.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import zmq

from . import _scope
from ._curve import CurveKeys
from ._formatters import HOSTNAME

# (logger prefix or None, root task or None, level)
Rule = Tuple[Optional[str], Optional[str], int]

_ORIGINAL = logging.Logger.isEnabledFor
_LOCK = threading.Lock()
_CONTROLS: List[Control] = []
_RULES: List[Rule] = []


def _matching_level(name: str, rules: List[Rule]) -> Optional[int]:
    """The lowest level of the rules that match this logger and the task in
    progress; None if none does."""
    found: Optional[int] = None
    for prefix, task, level in rules:
        if prefix is not None and name != prefix and not name.startswith(prefix + "."):
            continue
        if task is not None:
            scope = _scope._current.get()
            if scope is None or scope.id.split("/", 1)[0] != task:
                continue
        if found is None or level < found:
            found = level
    return found


def _is_enabled_for(self: logging.Logger, level: int) -> bool:
    rules = _RULES
    if rules and self.manager.disable < level:
        pushed = _matching_level(self.name, rules)
        if pushed is not None:
            return level >= pushed
    return _ORIGINAL(self, level)


def _install(rules: List[Rule]) -> None:
    global _RULES
    _RULES = rules
    if rules:
        logging.Logger.isEnabledFor = _is_enabled_for  # type: ignore[method-assign]
    else:
        logging.Logger.isEnabledFor = _ORIGINAL  # type: ignore[method-assign]


def _recompute() -> None:
    with _LOCK:
        rules: List[Rule] = []
        for c in _CONTROLS:
            rules.extend(c.rules)
        _install(rules)


def control_endpoint(endpoint: Any, control: Any) -> Optional[str]:
    """The endpoint to subscribe to: `control` if given (False or "" for
    none), else $DISTLOG_CONTROL, else the intake's port + 1."""
    if control is False or control is None:
        return None
    if isinstance(control, str) and control != "auto":
        return control or None
    env = os.environ.get("DISTLOG_CONTROL")
    if env is not None:
        return None if env in ("", "off") else env
    if isinstance(endpoint, str):
        m = re.fullmatch(r"(tcp://.+):(\d+)", endpoint)
        if m and m.group(2) != "0":
            return f"{m.group(1)}:{int(m.group(2)) + 1}"
    return None


class Control:
    """Subscribes to one control endpoint on a thread of its own."""

    def __init__(self, endpoint: str, system: str, curve: Optional[CurveKeys] = None) -> None:
        self.endpoint = endpoint
        # The handler's CURVE keys: a daemon with CURVE publishes levels
        # only to admitted programs.
        self._curve = curve
        self.system = system
        self.rules: List[Rule] = []
        self.generation: Optional[int] = None
        self._heard = 0.0
        self._hold = 30.0
        self._stop = False
        self._thread: Optional[threading.Thread] = None
        with _LOCK:
            _CONTROLS.append(self)
        self._start()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="distlog-levels", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop = True
        with _LOCK:
            if self in _CONTROLS:
                _CONTROLS.remove(self)
        _recompute()

    def _run(self) -> None:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.SUB)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SUBSCRIBE, b"levels")
            if self._curve is not None:
                self._curve.apply(sock)
            sock.connect(self.endpoint)
            while not self._stop:
                if sock.poll(250):
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.ZMQError:
                        continue
                    if len(frames) == 2 and frames[0] == b"levels":
                        self._apply(frames[1])
                elif self.rules and time.monotonic() - self._heard > self._hold:
                    # distlogd went away: back to the program's own levels.
                    self.rules = []
                    self.generation = None
                    _recompute()
        except Exception as e:  # never take the program down
            import sys

            sys.stderr.write(f"distlog: level control on {self.endpoint} stopped: {e!r}\n")
        finally:
            sock.close()
            ctx.term()

    def _apply(self, body: bytes) -> None:
        try:
            msg = json.loads(body)
        except ValueError:
            return
        if not isinstance(msg, dict) or msg.get("v") != 1:
            return
        self._heard = time.monotonic()
        hold = msg.get("hold")
        if isinstance(hold, (int, float)) and hold > 0:
            self._hold = float(hold)
        generation = msg.get("generation")
        if generation == self.generation:
            return
        self.generation = generation if isinstance(generation, int) else None
        self.rules = self._rules_for_me(msg.get("levels"))
        _recompute()

    def _rules_for_me(self, levels: Any) -> List[Rule]:
        rules: List[Rule] = []
        if not isinstance(levels, list):
            return rules
        pid = os.getpid()
        for s in levels:
            if not isinstance(s, dict) or not isinstance(s.get("level"), int):
                continue
            if s.get("host") is not None and s["host"] != HOSTNAME:
                continue
            if s.get("process") is not None and s["process"] != pid:
                continue
            if s.get("system") is not None and s["system"] != self.system:
                continue
            logger = s.get("logger")
            task = s.get("task")
            rules.append(
                (
                    logger if isinstance(logger, str) else None,
                    task if isinstance(task, str) else None,
                    s["level"],
                )
            )
        return rules


def current_rules() -> List[Dict[str, Any]]:
    """The pushed settings this process applies, for inspection."""
    return [{"logger": p, "task": t, "level": lv} for p, t, lv in _RULES]


def _after_fork() -> None:
    # The parent's threads do not exist in the child; the child subscribes
    # afresh and keeps no settings meant for the parent's pid meanwhile.
    global _LOCK
    _LOCK = threading.Lock()
    controls = list(_CONTROLS)
    for c in controls:
        c.rules = []
        c.generation = None
        if not c._stop:
            c._start()
    _install([])


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
