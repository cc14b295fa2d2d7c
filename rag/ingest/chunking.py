"""Split an article's text into sentence-aware, overlapping chunks with exact spans (chunking stage).

Every chunk satisfies ``article.text[chunk.start:chunk.end] == chunk.text``; chunk ids depend only on
the article's source and the chunk's span and text, so they are stable across runs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from rag.ingest.corpus import Article

# A sentence ends at a full-width (CJK) full stop, question or exclamation mark, whitespace or not (Chinese
# and Japanese put none between sentences); at other terminal punctuation (Latin, Cyrillic, Greek, Arabic,
# Devanagari, Armenian, Ethiopic, Burmese) followed by whitespace; or at a line break. Closing quotes and
# brackets stay with their sentence.
_BOUNDARY = re.compile(r"[。！？]+[\"'”’»)\]」』）]*|[.!?…।॥؟։።။]+[\"'”’»)\]」』）]*(?=\s)|\n")
# ... except where the next word on the same line starts in lower case: "the U.S. state Department",
# "Approx. said", "e.g. this" (a sentence does not start in lower case; scripts without case never do)
_NEXT_WORD = re.compile(r"[^\S\n]+([^\W\d_])")
# ... or where the full stop ends an initial or a short title, whatever the next word: "John F. Kennedy",
# "존 F. 케네디", "Bruno Latour (s. 1947)", "l.k. 100", "Kapel St. Hubert", "Dr. Smith" (one letter, or a
# capital and a small letter); "the US." still ends a sentence
_WORD_BEFORE = re.compile(r"(?<![^\W\d_])[^\W\d_]{1,2}$")


@dataclass(frozen=True)
class Chunk:
    """A contiguous span of one article."""

    id: str
    source: str
    article_id: str
    index: int  # position within the article
    start: int
    end: int
    text: str
    language: str = "und"
    title: str = ""
    published: str | None = None  # the article's publication date (ISO), when known
    outlet: str | None = None


def sentence_spans(text: str, max_chars: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each sentence, whitespace trimmed; sentences over ``max_chars`` are split."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for match in _BOUNDARY.finditer(text):
        if match.group() != "\n" and (_continues(text, match.end()) or _initial(text, match)):
            continue
        spans.extend(_trimmed(text, pos, match.end()))
        pos = match.end()
    spans.extend(_trimmed(text, pos, len(text)))
    if max_chars:
        spans = [piece for span in spans for piece in _split_long(text, span, max_chars)]
    return spans


def _continues(text: str, end: int) -> bool:
    """Whether the sentence goes on after the punctuation ending at ``end`` (next word in lower case)."""
    word = _NEXT_WORD.match(text, end)
    return word is not None and word.group(1).islower()


def _initial(text: str, match: re.Match[str]) -> bool:
    """The boundary is a lone full stop after an initial or a short title ."""
    if match.group() != ".":
        return False
    word = _WORD_BEFORE.search(text, max(0, match.start() - 3), match.start())
    return word is not None and (
        len(word.group()) == 1 or (word.group()[0].isupper() and word.group()[1].islower())
    )


def _trimmed(text: str, start: int, end: int) -> list[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return [(start, end)] if end > start else []


def _split_long(text: str, span: tuple[int, int], max_chars: int) -> list[tuple[int, int]]:
    """Cut a too-long sentence at the last whitespace before each ``max_chars`` limit (hard cut if none)."""
    start, end = span
    pieces: list[tuple[int, int]] = []
    while end - start > max_chars:
        limit = start + max_chars
        cut = max(text.rfind(" ", start + 1, limit + 1), text.rfind("\n", start + 1, limit + 1))
        cut = cut if cut > start else limit
        pieces.extend(_trimmed(text, start, cut))
        start = cut
    pieces.extend(_trimmed(text, start, end))
    return pieces


def chunk_article(article: Article, chunk_chars: int, overlap_chars: int) -> list[Chunk]:
    """Greedy packing of whole sentences up to ``chunk_chars``; consecutive chunks share up to
    ``overlap_chars`` of trailing sentences."""
    text = article.text
    spans = sentence_spans(text, max_chars=chunk_chars)
    chunks: list[Chunk] = []
    first = 0
    while first < len(spans):
        last = first
        while last + 1 < len(spans) and spans[last + 1][1] - spans[first][0] <= chunk_chars:
            last += 1
        start, end = spans[first][0], spans[last][1]
        chunks.append(_make_chunk(article, len(chunks), start, end))
        if last + 1 >= len(spans):
            break
        first = _overlap_start(spans, first, last, overlap_chars)
    return chunks


def _overlap_start(spans: list[tuple[int, int]], first: int, last: int, overlap_chars: int) -> int:
    """First sentence of the next chunk: the trailing sentences of this one that fit in the overlap."""
    nxt = last + 1
    while nxt - 1 > first and spans[last][1] - spans[nxt - 1][0] <= overlap_chars:
        nxt -= 1
    return nxt


def _make_chunk(article: Article, index: int, start: int, end: int) -> Chunk:
    text = article.text[start:end]
    digest = hashlib.sha1(f"{article.source}\x00{start}\x00{end}\x00{text}".encode()).hexdigest()
    return Chunk(
        digest[:24],
        article.source,
        article.article_id,
        index,
        start,
        end,
        text,
        article.language,
        article.title,
        article.published,
        article.outlet,
    )
