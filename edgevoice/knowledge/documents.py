"""Find and read the owner's documents, refusing what cannot be text: too big, binary, not UTF-8."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

#: File name endings that are indexed, and how each is read.
KINDS = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text", ".html": "html", ".htm": "html"}


class DocumentProblem(Exception):
    """A knowledge file that cannot be indexed; the message says why, in a user's words."""


@dataclass(frozen=True, slots=True)
class DocumentFile:
    """A file to index, as it is on disk now (its mtime and size tell a change)."""

    path: Path
    kind: str
    mtime_ns: int
    size: int


def find_documents(paths: Iterable[Path]) -> tuple[list[DocumentFile], list[tuple[Path, str]]]:
    """The indexable files under ``paths`` (files or folders, recursively, sorted), and paths that
    could not be used, with why (missing, unreadable, not a known kind)."""
    found: dict[Path, DocumentFile] = {}
    problems: list[tuple[Path, str]] = []
    for root in paths:
        if root.is_dir():
            for path in sorted(_walk(root, problems)):
                doc = _document(path, problems, named=False)
                if doc is not None:
                    found.setdefault(doc.path, doc)
        elif root.exists():
            doc = _document(root, problems, named=True)
            if doc is not None:
                found.setdefault(doc.path, doc)
        else:
            problems.append((root, "does not exist"))
    return [found[p] for p in sorted(found)], problems


def _walk(root: Path, problems: list[tuple[Path, str]]) -> Iterator[Path]:
    def failed(exc: OSError) -> None:
        problems.append((Path(exc.filename or root), f"cannot be read: {exc.strerror or exc}"))

    for folder, dirs, files in os.walk(root, onerror=failed):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if not name.startswith("."):
                yield Path(folder) / name


def _document(path: Path, problems: list[tuple[Path, str]], *, named: bool) -> DocumentFile | None:
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        if named:  # a file named in the config: say why it is not used
            problems.append((path, f"is not Markdown, text or HTML (known endings: {', '.join(KINDS)})"))
        return None
    try:
        st = path.stat()
    except OSError as exc:
        problems.append((path, f"cannot be read: {exc.strerror or exc}"))
        return None
    return DocumentFile(path.resolve(), kind, st.st_mtime_ns, st.st_size)


def read_document(doc: DocumentFile, max_bytes: int) -> str:
    """The file's text; DocumentProblem if it is larger than ``max_bytes``, binary or not UTF-8."""
    if doc.size > max_bytes:
        raise DocumentProblem(f"is {doc.size / 1024:.0f} KiB, more than knowledge.max_file_kb ({max_bytes // 1024} KiB)")
    try:
        with open(doc.path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise DocumentProblem(f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise DocumentProblem(f"grew beyond knowledge.max_file_kb ({max_bytes // 1024} KiB) while being read")
    if b"\x00" in data:
        raise DocumentProblem("is binary (it contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DocumentProblem(f"is not UTF-8 text (line {line}, byte {data[exc.start:exc.start + 1]!r}); save it as UTF-8") from None
    return text
