"""Split a document into passages by headings and paragraphs (pure; no I/O).

A passage is one paragraph (or a list, or a table) under its heading path ("Hours > Winter").
Paragraphs longer than ``MAX_PASSAGE_CHARS`` are cut at sentence ends, so a search result stays
something a voice can read out. Markdown headings are ``#`` lines and underlined lines; HTML is
reduced to its text, with ``<h1>``-``<h6>`` as headings; plain text has paragraphs only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

MAX_PASSAGE_CHARS = 800
_ATX = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_BREAK = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")  # a thematic break (---, ***, ___): ends a paragraph
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True, slots=True)
class Passage:
    """One searchable piece of a document: its heading path and its text."""

    heading: str
    text: str


def split_document(text: str, kind: str) -> list[Passage]:
    """Passages of a document of ``kind`` "markdown", "html" or "text"."""
    if kind == "html":
        return _split_blocks(_html_blocks(text))
    if kind == "markdown":
        return _split_blocks(_markdown_blocks(text))
    return _split_blocks((0, "", para) for para in _paragraphs(text))


def _paragraphs(text: str) -> list[str]:
    return [p for p in (" ".join(block.split()) for block in re.split(r"\n\s*\n", text)) if p]


def _markdown_blocks(text: str):
    """(heading level or 0, heading text, paragraph) triples; a heading has an empty paragraph."""
    lines = text.replace("\r\n", "\n").split("\n")
    para: list[str] = []
    in_code = False
    for i, line in enumerate(lines):
        if line.strip().startswith("```"):
            in_code = not in_code
            continue
        match = None if in_code else _ATX.match(line)
        underline = (not in_code and para and len(para) == 1 and i > 0 and _SETEXT.match(line)
                     and lines[i - 1].strip())
        if match or underline:
            if underline:
                title = para.pop()
                level = 1 if line.strip().startswith("=") else 2
            else:
                title, level = match.group(2), len(match.group(1))
            if para:
                yield 0, "", " ".join(" ".join(para).split())
                para = []
            yield level, _strip_markup(title), ""
            continue
        if not line.strip() or (not in_code and not para and _BREAK.match(line)):
            if para:
                yield 0, "", " ".join(" ".join(para).split())
                para = []
            continue
        para.append(_strip_markup(line.strip()))
    if para:
        yield 0, "", " ".join(" ".join(para).split())


def _strip_markup(line: str) -> str:
    """Markdown emphasis, links and list markers out of a line: the words stay."""
    line = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", line)
    line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line)
    line = re.sub(r"(\*\*|__|\*|_|`)(.+?)\1", r"\2", line)
    return re.sub(r"^([-*+]|\d+[.)])\s+", "", line)


class _HtmlText(HTMLParser):
    """HTML to (level, heading, paragraph) blocks: headings h1-h6, block elements end paragraphs."""

    BLOCKS = frozenset({"p", "div", "li", "tr", "br", "section", "article", "table", "ul", "ol", "dd", "dt", "blockquote"})
    SKIP = frozenset({"script", "style", "head", "title", "nav"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[int, str, str]] = []
        self._text: list[str] = []
        self._heading = 0
        self._skip = 0

    def _flush(self) -> None:
        words = " ".join("".join(self._text).split())
        self._text = []
        if words:
            self.blocks.append((self._heading, words, "") if self._heading else (0, "", words))

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in self.SKIP:
            self._skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading = int(tag[1])
        elif tag in self.BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading = 0
        elif tag in self.BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._text.append(data)


def _html_blocks(text: str):
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    parser._flush()  # noqa: SLF001 - the parser's own end of input
    return parser.blocks


def _split_blocks(blocks) -> list[Passage]:
    path: list[tuple[int, str]] = []
    passages = []
    for level, title, para in blocks:
        if level:
            path = [(lv, t) for lv, t in path if lv < level] + [(level, title)]
            continue
        heading = " > ".join(t for _, t in path)
        passages.extend(Passage(heading, piece) for piece in _cut(para))
    return passages


def _cut(para: str) -> list[str]:
    """A paragraph as pieces of at most MAX_PASSAGE_CHARS, cut at sentence ends where possible."""
    if len(para) <= MAX_PASSAGE_CHARS:
        return [para]
    pieces, current = [], ""
    for sentence in _SENTENCE_END.split(para):
        while len(sentence) > MAX_PASSAGE_CHARS:  # one endless sentence: cut at a word
            cut = sentence.rfind(" ", 0, MAX_PASSAGE_CHARS)
            cut = cut if cut > 0 else MAX_PASSAGE_CHARS
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > MAX_PASSAGE_CHARS:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces
