"""Run the model's tool calls off the daemon's loop, each within ``tools.timeout_s``.

``ToolRunner.run(call_id, name, arguments)`` returns at once; the tool runs on a worker thread
and a :class:`~edgevoice.assistant.events.ToolFinished` is posted to the loop when it is done, or
when the timeout runs out first (the output then says the tool took too long; a late result is
logged and dropped). A thread cannot be killed: a tool that hangs keeps its thread, so at most
``MAX_STUCK`` hung tools are tolerated before further calls are refused.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edgevoice.assistant import events as E
from edgevoice.tools.toolbox import Toolbox, ToolResult

logger = logging.getLogger(__name__)

MAX_STUCK = 4


class ToolRunner:
    """Runs tool calls on worker threads and posts ``ToolFinished`` events (see the module docstring)."""

    def __init__(self, toolbox: Toolbox, post: Callable[[object], None], *, timeout_s: float) -> None:
        self.toolbox = toolbox
        self._post = post
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._stuck = 0  # workers still running after their timeout

    def run(self, call_id: str, name: str, arguments: str) -> None:
        """Start the call; its ToolFinished is posted within ``timeout_s``."""
        started = time.perf_counter()
        done = threading.Event()
        with self._lock:
            stuck = self._stuck
        if stuck >= MAX_STUCK:
            self._finish(call_id, name, ToolResult.failure(f"{name} was not run: earlier tools on the device are stuck"), started)
            return

        def work() -> None:
            result = self.toolbox.call(name, arguments)
            with self._lock:
                late = done.is_set()
                done.set()
                if late:
                    self._stuck -= 1
            if late:
                logger.warning("tool %s finished %.1f s after its %.1f s timeout; its result was dropped",
                               name, time.perf_counter() - started - self.timeout_s, self.timeout_s)
            else:
                self._finish(call_id, name, result, started)

        def too_late() -> None:
            with self._lock:
                if done.is_set():
                    return
                done.set()
                self._stuck += 1
            logger.warning("tool %s took longer than %g s; the model is told so", name, self.timeout_s)
            self._finish(call_id, name, ToolResult.failure(f"{name} took longer than {self.timeout_s:g} s and was abandoned"), started)

        timer = threading.Timer(self.timeout_s, too_late)
        timer.daemon = True
        timer.name = f"tool-timeout-{name}"[:40]
        worker = threading.Thread(target=work, name=f"tool-{name}"[:40], daemon=True)
        timer.start()
        worker.start()

    def _finish(self, call_id: str, name: str, result: ToolResult, started: float) -> None:
        ms = (time.perf_counter() - started) * 1000
        self._post(E.ToolFinished(call_id, name, result.output_json(), ms, tuple(result.sources), result.ok,
                                  result.ends_conversation))
