"""``edgevoice knowledge index|search "QUERY"|list``: what the assistant knows about the place.

``index`` brings the index up to date (new and changed files; the daemon does the same at start
and on reload) and names the files it skipped, and why. ``search`` shows the passages the
``search_knowledge`` tool would give the model for QUERY, exactly as it would send them. ``list``
shows every file with its number of passages or its problem. Exit status: 0; 1 when a file was
skipped (index, list) or nothing was found (search); 78 for a config without ``[knowledge] paths``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys

HELP = "index the [knowledge] documents, search them as the assistant would, or list them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("index", "search", "list"), help="index: update now; search: as the model would; list: the files")
    parser.add_argument("query", nargs="?", help="search: what the visitor asked about, e.g. \"when do you close on Tuesday\"")
    parser.add_argument("--config", metavar="PATH", help="config file (default: $EDGEVOICE_CONFIG or /etc/edgevoice/edgevoice.toml)")
    parser.add_argument("--json", action="store_true", help="search: print only the tool's output (the JSON the model gets)")


def main(args: argparse.Namespace) -> int:
    from edgevoice.config.errors import EX_CONFIG
    from edgevoice.config.load import load_config
    from edgevoice.knowledge.index import KnowledgeIndex

    config = load_config(args.config, environ=os.environ)
    knowledge = config.knowledge
    if not knowledge.paths:
        print("edgevoice knowledge: no [knowledge] paths in the config; the assistant has no documents", file=sys.stderr)
        return EX_CONFIG
    if args.action == "search" and not (args.query or "").strip():
        print("edgevoice knowledge search: say what to look for: edgevoice knowledge search \"opening hours\"", file=sys.stderr)
        return 2
    try:
        index = KnowledgeIndex.open(knowledge)
    except (OSError, sqlite3.Error) as exc:
        print(f"edgevoice knowledge: cannot open the index in {knowledge.index_dir}: {exc}", file=sys.stderr)
        return 1
    try:
        if args.action == "list":
            return _list(index)
        report = index.update()
        if args.action == "index":
            print(f"index:   {index.path}")
            print(f"update:  {report.describe()}; {index.passage_count} passages in all")
            for path in report.indexed:
                print(f"  indexed  {path}")
            for path in report.removed:
                print(f"  removed  {path}")
            for path, why in report.problems:
                print(f"  skipped  {path}: {why}")
            return 1 if report.problems else 0
        return _search(index, knowledge, args.query, as_json=args.json)
    finally:
        index.close()


def _list(index) -> int:
    files = index.files()
    if not files:
        print("the index is empty: run `edgevoice knowledge index`")
        return 1
    for f in files:
        print(f"  {f.passages:4d} passages  {f.path}" if not f.problem else f"  skipped        {f.path}: {f.problem}")
    print(f"{len(files)} files, {index.passage_count} passages")
    return 1 if any(f.problem for f in files) else 0


def _search(index, knowledge, query: str, *, as_json: bool) -> int:
    from edgevoice.tools.builtin import search_knowledge_tool

    result = search_knowledge_tool(index, knowledge).run({"query": query})
    if as_json:
        print(result.output_json())
        return 0 if result.output.get("passages") else 1
    passages = result.output.get("passages", [])
    if not passages:
        print(f"nothing found for {query!r}")
        return 1
    for i, p in enumerate(passages, 1):
        print(f"{i}. {p['source']} > {p['heading'] or '(no heading)'}")
        print(f"   {p['text']}")
    print(f"({sum(len(p['text']) for p in passages)} characters of at most {knowledge.result_chars}; "
          f"the model gets: {len(json.dumps(result.output))} characters of JSON)")
    return 0
