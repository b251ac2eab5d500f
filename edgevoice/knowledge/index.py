"""The knowledge index: passages of the owner's documents in SQLite FTS5, ranked with BM25.

``KnowledgeIndex.open(config)`` opens (or creates) ``knowledge.sqlite3`` in ``knowledge.index_dir``.
``update()`` brings it up to date incrementally: a file whose size or modification time changed is
split and indexed again, a vanished file is removed, an unchanged one is left alone. The daemon
calls it at start and on reload, never during a turn. ``search(query)`` gives the best passages
within a character budget. A file that cannot be text (too big, binary, not UTF-8) is recorded
with its problem, logged, and skipped; the rest of the folder is indexed.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from edgevoice.config.tools import KnowledgeConfig
from edgevoice.knowledge.documents import DocumentProblem, find_documents, read_document
from edgevoice.knowledge.passages import split_document

logger = logging.getLogger(__name__)

INDEX_FILE = "knowledge.sqlite3"
SCHEMA_VERSION = 1
HEADING_WEIGHT = 0.5  # BM25 weight of the heading beside the passage text (1.0)
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_WORDS = 32


@dataclass(frozen=True, slots=True)
class Hit:
    """One passage found: where it comes from, its heading, its text and its BM25 rank (lower is better)."""

    source: str
    heading: str
    text: str
    rank: float


@dataclass(frozen=True, slots=True)
class IndexedFile:
    """One file as the index knows it: how many passages, or why it could not be indexed."""

    path: str
    passages: int
    problem: str


@dataclass
class UpdateReport:
    """What one update did."""

    indexed: list[str] = field(default_factory=list)  # new or changed files, indexed again
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, why) for files skipped
    seconds: float = 0.0

    def describe(self) -> str:
        return (f"{len(self.indexed)} indexed, {self.unchanged} unchanged, {len(self.removed)} removed, "
                f"{len(self.problems)} skipped in {self.seconds * 1000:.0f} ms")


class KnowledgeIndex:
    """A full-text index of the owner's documents (one SQLite file); safe to search from any thread."""

    def __init__(self, path: Path | str, paths: Iterable[Path] = (), *, max_file_kb: int = 1024) -> None:
        self.path = Path(path)
        self.paths = tuple(paths)
        self.max_bytes = max_file_kb * 1024
        self._lock = threading.Lock()
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL") if str(path) != ":memory:" else None
        self._create()

    @classmethod
    def open(cls, config: KnowledgeConfig) -> KnowledgeIndex:
        """The index for ``[knowledge]`` (OSError/sqlite3.Error if its directory cannot be used)."""
        return cls(config.index_dir / INDEX_FILE, config.paths, max_file_kb=config.max_file_kb)

    def _create(self) -> None:
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            db.executescript("DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS passages;")
        db.executescript(
            f"""
            CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, mtime_ns INTEGER, size INTEGER,
                                              passages INTEGER, problem TEXT NOT NULL DEFAULT '');
            CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(
                text, heading, source UNINDEXED, tokenize = 'porter unicode61');
            PRAGMA user_version = {SCHEMA_VERSION};
            """
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- building -----------------------------------------------------------------------------

    def update(self) -> UpdateReport:
        """Index new and changed files, drop vanished ones; unchanged files are not read."""
        started = time.perf_counter()
        report = UpdateReport()
        docs, missing = find_documents(self.paths)
        for path, why in missing:
            report.problems.append((str(path), why))
        with self._lock:
            db = self._db
            known = {row[0]: (row[1], row[2]) for row in db.execute("SELECT path, mtime_ns, size FROM files")}
            seen = set()
            db.execute("BEGIN")
            try:
                for doc in docs:
                    key = str(doc.path)
                    seen.add(key)
                    if known.get(key) == (doc.mtime_ns, doc.size):
                        report.unchanged += 1
                        problem = db.execute("SELECT problem FROM files WHERE path = ?", (key,)).fetchone()[0]
                        if problem:
                            report.problems.append((key, problem))
                        continue
                    db.execute("DELETE FROM passages WHERE source = ?", (key,))
                    try:
                        passages = split_document(read_document(doc, self.max_bytes), doc.kind)
                        problem = ""
                    except DocumentProblem as exc:
                        passages, problem = [], str(exc)
                        report.problems.append((key, problem))
                    db.executemany("INSERT INTO passages (text, heading, source) VALUES (?, ?, ?)",
                                   [(p.text, p.heading, key) for p in passages])
                    db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                               (key, doc.mtime_ns, doc.size, len(passages), problem))
                    if not problem:
                        report.indexed.append(key)
                for key in sorted(set(known) - seen):
                    db.execute("DELETE FROM passages WHERE source = ?", (key,))
                    db.execute("DELETE FROM files WHERE path = ?", (key,))
                    report.removed.append(key)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        report.seconds = time.perf_counter() - started
        for path, why in report.problems:
            logger.warning("knowledge: %s %s; skipped", path, why)
        return report

    # --- reading ------------------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 3, max_chars: int = 2000) -> list[Hit]:
        """The best passages for ``query`` (BM25), at most ``limit``, their texts within ``max_chars``.

        The query is taken as words (any FTS5 syntax in it is just text): a passage matching more
        of the rarer words ranks higher.
        """
        words = _WORD.findall(query.lower())[:MAX_QUERY_WORDS]
        if not words:
            return []
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in dict.fromkeys(words))
        with self._lock:
            rows = self._db.execute(
                f"SELECT source, heading, text, bm25(passages, 1.0, {HEADING_WEIGHT}) AS rank FROM passages "
                "WHERE passages MATCH ? ORDER BY rank LIMIT ?",
                (match, limit),
            ).fetchall()
        hits, used = [], 0
        for source, heading, text, rank in rows:
            room = max_chars - used
            if room <= 0:
                break
            if len(text) > room:
                text = text[: max(0, room - 1)].rsplit(" ", 1)[0] + "…"
            hits.append(Hit(source, heading, text, rank))
            used += len(text)
        return hits

    def files(self) -> list[IndexedFile]:
        """Every file the index knows, with its passage count or its problem."""
        with self._lock:
            rows = self._db.execute("SELECT path, passages, problem FROM files ORDER BY path").fetchall()
        return [IndexedFile(*row) for row in rows]

    @property
    def passage_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM passages").fetchone()[0]
