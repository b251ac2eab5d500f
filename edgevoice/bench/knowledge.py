"""``knowledge_search_ms``, ``knowledge_index_ms``, ``knowledge_update_ms``: search_knowledge over 1,000 passages.

A seeded generator writes a folder of Markdown documents (headings and paragraphs of kiosk-like
sentences: hours, prices, directions) that split into exactly ``passages`` passages. The figures:
how long a full index build takes, how long an update of the unchanged folder takes (what every
start and reload costs), and the median and p95 of ``search_knowledge`` calls, timed around the
tool's own function (index search, passages cut to the size limit, JSON for the model).
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from edgevoice.bench.figures import Figure
from edgevoice.bench.latency import median_p95
from edgevoice.config.tools import KnowledgeConfig
from edgevoice.knowledge.index import KnowledgeIndex
from edgevoice.tools.builtin import search_knowledge_tool

SEARCH_TARGET_MS = 20.0
PASSAGES_PER_FILE = 20

_TOPICS = ("opening hours", "prices", "parking", "tickets", "guided tours", "the cafe", "accessibility", "the shop",
           "lost property", "group visits", "school classes", "photography", "pets", "the garden", "exhibitions")
_WORDS = ("monday tuesday wednesday thursday friday saturday sunday morning afternoon evening entrance exit lift "
          "stairs floor ground first second door ticket adult child student senior family discount euro card cash "
          "coffee tea cake sandwich garden bench toilet cloakroom locker bag map guide audio tour museum gallery "
          "painting sculpture history science bicycle car bus tram train station street corner bakery bread "
          "closes opens holiday summer winter spring autumn booking phone email website free paid").split()


def write_folder(folder: Path, passages: int, seed: int = 7) -> None:
    """Markdown files under ``folder`` that split into ``passages`` passages (one a paragraph)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for f in range((passages + PASSAGES_PER_FILE - 1) // PASSAGES_PER_FILE):
        count = min(PASSAGES_PER_FILE, passages - f * PASSAGES_PER_FILE)
        lines = [f"# {rng.choice(_TOPICS).title()} {f}", ""]
        for p in range(count):
            if p % 5 == 0:
                lines += [f"## {rng.choice(_TOPICS).capitalize()} section {p // 5}", ""]
            sentences = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 14))).capitalize() + "."
                         for _ in range(rng.randint(2, 4))]
            lines += [" ".join(sentences), ""]
        (folder / f"doc{f:03d}.md").write_text("\n".join(lines), encoding="utf-8")


def measure(passages: int = 1000, searches: int = 300, seed: int = 7) -> list[Figure]:
    rng = random.Random(seed + 1)
    with tempfile.TemporaryDirectory(prefix="edgevoice-knowledge-") as tmp:
        folder, state = Path(tmp) / "knowledge", Path(tmp) / "state"
        write_folder(folder, passages, seed)
        config = KnowledgeConfig(paths=(folder,), index_dir=state)
        started = time.perf_counter()
        index = KnowledgeIndex.open(config)
        report = index.update()
        build_s = time.perf_counter() - started
        count = index.passage_count
        if count != passages:
            raise RuntimeError(f"the generated folder gave {count} passages, not {passages}")
        started = time.perf_counter()
        index.update()
        unchanged_s = time.perf_counter() - started
        tool = search_knowledge_tool(index, config)
        queries = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 7))) for _ in range(searches)]
        times = []
        for query in queries:
            t0 = time.perf_counter()
            result = tool.run({"query": query})
            result.output_json()
            times.append((time.perf_counter() - t0) * 1000)
        index.close()
    median, p95 = median_p95(times)
    files = len(report.indexed)
    return [
        Figure("knowledge_search_ms", median, "ms",
               f"one search_knowledge call (BM25 over SQLite FTS5, top {config.max_results} passages within "
               f"{config.result_chars} characters, JSON for the model) over {passages} generated passages in {files} "
               "Markdown files, queries of 2-7 words; median and p95 (target on the p95)",
               target=SEARCH_TARGET_MS, p95=p95, n=len(times)),
        Figure("knowledge_index_ms", build_s * 1000, "ms",
               f"building the index from scratch: reading, splitting and indexing {files} files ({passages} passages)"),
        Figure("knowledge_update_ms", unchanged_s * 1000, "ms",
               "updating the index of the unchanged folder (what each start and reload costs: a stat per file)"),
    ]
