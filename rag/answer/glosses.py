"""Glosses: a machine translation of a quote into the question's language, shown next to the exact quote,
never instead of it (answer stage).

A citation whose quote is in another language than the answer gets ``gloss`` when asked for (``gloss=True``
in the API, on demand in the page). The LLM translates with the ``gloss`` prompt; a translation that is not
in the wanted language is dropped (the gloss stays None). Glosses are cached per quote and language in
``<index>/glosses/`` (one small JSON file each, written aside and renamed), so a quote is translated once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from rag.answer.language import answer_language
from rag.answer.values import Answer, Citation
from rag.errors import RagError

log = logging.getLogger(__name__)

Translate = Callable[[str, str], str]  # (quote, language code) -> translation


class Glosses:
    """Translations of quotes, made by ``translate`` (None: no LLM, no glosses) and kept in ``folder``."""

    def __init__(self, folder: Path | None, translate: Translate | None) -> None:
        self.folder = Path(folder) if folder else None
        self.translate = translate

    def gloss(self, quote: str, language: str) -> str | None:
        """The quote in ``language``, or None when it cannot be made (no LLM, wrong language, an error)."""
        kept = self._kept(quote, language)
        if kept is not None:
            return kept or None
        if self.translate is None:
            return None
        try:
            text = " ".join(self.translate(quote, language).split())
        except RagError as exc:
            log.info("could not gloss a quote into %s: %s", language, exc)
            return None
        if not text or answer_language(text, "") != language:
            log.info("rejected a gloss into %s: %r", language, text)
            text = ""
        self._keep(quote, language, text)
        return text or None

    def add(self, answer: Answer) -> Answer:
        """``answer`` with a gloss on each citation in another language than the answer."""
        return replace(answer, citations=self.citations(answer.citations, answer.language))

    def citations(self, citations: tuple[Citation, ...], language: str) -> tuple[Citation, ...]:
        return tuple(
            replace(c, gloss=self.gloss(c.quote, language)) if c.language != language and not c.gloss else c
            for c in citations
        )

    def _path(self, quote: str, language: str) -> Path | None:
        if self.folder is None or not language.isalnum():
            return None
        digest = hashlib.sha256(f"{language}\x00{quote}".encode()).hexdigest()[:32]
        return self.folder / f"{digest}.json"

    def _kept(self, quote: str, language: str) -> str | None:
        path = self._path(quote, language)
        try:
            record = json.loads(path.read_text(encoding="utf-8")) if path and path.is_file() else None
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("quote") != quote:
            return None
        return str(record.get("gloss", ""))

    def _keep(self, quote: str, language: str, text: str) -> None:
        path = self._path(quote, language)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
            record = {"quote": quote, "language": language, "gloss": text}
            partial.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
            os.replace(partial, path)
        except OSError as exc:  # a read-only index still glosses, without the cache
            log.info("could not keep a gloss in %s: %s", path, exc)
