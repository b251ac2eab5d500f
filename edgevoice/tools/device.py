"""The tools as the daemon holds them: the knowledge index (brought up to date), the toolbox, its runner."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edgevoice.assistant import actions as A
from edgevoice.config.errors import ConfigError
from edgevoice.config.schema import Config
from edgevoice.config.tools import KnowledgeConfig
from edgevoice.tools.runner import ToolRunner
from edgevoice.tools.setup import ToolSessions, build_toolbox, session_fields

if TYPE_CHECKING:
    from edgevoice.knowledge.index import KnowledgeIndex

logger = logging.getLogger(__name__)


def open_knowledge(config: KnowledgeConfig) -> KnowledgeIndex | None:
    """The knowledge index, updated now (new and changed files); None without paths or when the
    index cannot be kept (the reason is logged; the assistant works on without search)."""
    if not config.paths:
        return None
    import sqlite3  # with the index: an idle daemon without knowledge never loads SQLite (about 1 MB)

    from edgevoice.knowledge.index import KnowledgeIndex

    try:
        index = KnowledgeIndex.open(config)
        report = index.update()
    except (OSError, sqlite3.Error) as exc:
        logger.error("knowledge: cannot keep the index in %s (%s); search_knowledge is off", config.index_dir, exc)
        return None
    logger.info("knowledge: %s; %d passages", report.describe(), index.passage_count)
    return index


class DeviceTools:
    """What the model may call on this device, built from the config (at start and on reload)."""

    def __init__(self, config: Config, post: Callable[[object], None], *, pin_factory: Any = None) -> None:
        self.index = open_knowledge(config.knowledge)
        try:
            self.toolbox = build_toolbox(config, self.index, pin_factory=pin_factory)
        except ConfigError as exc:  # a GPIO device that cannot be had: the rest of the tools work
            logger.error("tools: %s; GPIO tools are off", exc)
            self.toolbox = build_toolbox(config, self.index, pin_factory=pin_factory, gpio=False)
        self.runner = ToolRunner(self.toolbox, post, timeout_s=config.tools.timeout_s)
        self.session_fields = session_fields(config, self.toolbox)
        if self.session_fields:
            logger.info("tools for the model: %s", ", ".join(t.get("name") or t.get("server_label", "?")
                                                             for t in self.session_fields["tools"]))

    def sessions(self, factory: Any) -> Any:
        """``factory`` whose sessions declare the tools (unchanged when there are none)."""
        return ToolSessions(factory, self.session_fields) if self.session_fields else factory

    def run(self, action: A.RunTool) -> None:
        self.runner.run(action.call_id, action.name, action.arguments)

    def close(self) -> None:
        self.toolbox.close()
        if self.index is not None:
            self.index.close()
