"""The fixed phrases of an answer in the question's language (answer stage): the refusal, and the lead-in
of an answer that quotes the articles.

For a language, in this order: the template shipped as ``prompts/<name>.<lang>.txt``; a translation of
the plain template made once by the LLM, checked to be in that language and kept in
``<index>/phrases/<name>.<lang>.txt``; else a language-neutral form (the refusal is the sign ``∅``, a
quoted answer is its quotes alone). English is never the default for another language.
"""

from __future__ import annotations

import logging
import string
import threading
from collections.abc import Callable
from pathlib import Path

from rag.answer import prompts
from rag.errors import ConfigError, RagError

log = logging.getLogger(__name__)

NEUTRAL = {"refusal": "∅", "extractive": "$quotes", "agree": "=", "differ": "≠", "nearest": "≈"}
Translate = Callable[[str, str], str]  # (plain English template, language code) -> translated template


class Phrases:
    """Renders phrase templates for any language; ``translate`` (may be None) makes missing ones.
    ``folder`` keeps translated phrases, ``templates`` is the prompt folder (None: the shipped one)."""

    def __init__(
        self, folder: Path | None = None, translate: Translate | None = None, templates: Path | None = None
    ) -> None:
        self.folder = Path(folder) if folder else None
        self.translate = translate
        self.templates = templates
        self._made: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def render(self, name: str, language: str, **values: object) -> str:
        return (
            string.Template(self.template(name, language))
            .safe_substitute({k: str(v) for k, v in values.items()})
            .strip()
        )

    def template(self, name: str, language: str) -> str:
        if language == "en" or prompts.has_variant(name, language, self.templates):
            return prompts.template(name, language, self.templates).template
        with self._lock:
            if (name, language) not in self._made:
                self._made[(name, language)] = (
                    self._kept(name, language) or self._translated(name, language) or NEUTRAL[name]
                )
            return self._made[(name, language)]

    def _path(self, name: str, language: str) -> Path | None:
        if not self.folder or not language.isalnum():
            return None
        return self.folder / f"{name}.{language}.txt"

    def _kept(self, name: str, language: str) -> str:
        path = self._path(name, language)
        try:
            return path.read_text(encoding="utf-8").strip() if path and path.is_file() else ""
        except (OSError, UnicodeDecodeError):
            return ""

    def _translated(self, name: str, language: str) -> str:
        if self.translate is None:
            return ""
        plain = prompts.template(name, folder=self.templates).template.strip()
        try:
            text = " ".join(self.translate(plain, language).split())
        except RagError as exc:
            log.info("could not translate the %s phrase into %s: %s", name, language, exc)
            return ""
        if not acceptable(plain, text, language):
            log.info("rejected the %s phrase translated into %s: %r", name, language, text)
            return ""
        path = self._path(name, language)
        if path:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text + "\n", encoding="utf-8")
            except OSError as exc:  # a read-only index still answers, with the phrase kept in memory
                log.info("could not keep the translated phrase in %s: %s", path, exc)
        return text


def acceptable(plain: str, text: str, language: str) -> bool:
    """A translated template keeps the placeholders, is one short line and is in ``language``."""
    from rag.answer.language import answer_language

    if not text or len(text) > 3 * len(plain) + 40 or "\n" in text:
        return False
    try:
        wanted = prompts.placeholders(plain)
        if prompts.placeholders(text) != wanted:
            return False
    except ConfigError:
        return False
    bare = string.Template(text).safe_substitute({k: "" for k in wanted})
    return answer_language(bare, "") == language
