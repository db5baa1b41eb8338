"""distlog: scoped, structured logging for distributed systems.

Log through Python's `logging` as usual; distlog adds the scope (a tree of
tasks and subtasks) to every record and ships it to `distlogd`::

    import logging
    import distlog

    logger = logging.getLogger()
    logger.addHandler(distlog.ZmqHandler('tcp://localhost:5010'))
    logger.setLevel(logging.INFO)

    with distlog.task('toplevel', user='leo'):
        logger.info('into task')
        with distlog.to('subtask', arg=42) as job:
            job.success('subtask done')
"""

from ._formatters import JSONFormatter, PickleFormatter, ScopeFilter
from ._handler import ZmqHandler
from ._metrics import metric, timed
from ._scope import Task, from_traceparent, import_task, task, to

__all__ = [
    "JSONFormatter",
    "PickleFormatter",
    "ScopeFilter",
    "Task",
    "ZmqHandler",
    "from_traceparent",
    "import_task",
    "metric",
    "task",
    "timed",
    "to",
]
__version__ = "0.1.0"
