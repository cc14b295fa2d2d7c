"""The chat page (UI stage): a Gradio app over one ``Assistant``.

``build_app(assistant)`` returns the page; ``serve(...)`` launches it (``rag chat``). What it owns:

* **Chat.** Answers stream in; the final, verified answer replaces the raw stream. Citation markers are
  links to the sources panel, where each cited sentence is shown highlighted inside its article context
  with file, title, language and score. Refusals look different. History is per browser session.
* **Articles.** List, upload (``.txt .md .html .pdf``; sanitized names, size limit, per-file result,
  progress) and removal.
* **Compare sources.** Each source (story group) that bears on the question, side by side with its own
  cited answer or marked silent, then where the sources agree and differ, each point citing both; the
  comparison's local markers are renumbered to its turn's entries in the sources panel.
* **Export and load.** The session's chat (answers and comparisons) downloads as Markdown or JSON; a JSON
  export loads back (chat, sources panel and follow-up history), checked against the index.
* **Settings.** Generator, top-k, language, outlet and publication-date filters, glosses (machine
  translations of quotes in other languages), per session.

Everything that comes from an article, a question or a model is HTML-escaped before Gradio sees it; markers
become links only where they resolve to a citation. Errors become plain messages, never tracebacks.

The modules: ``render`` and ``compare_render`` (the HTML, pure and escaped), ``uploads`` (names, types,
sizes and per-file results of uploaded files), ``session`` (a browser session's turns, history and
panel entries), ``page`` (what happens on ask, compare, export, load, upload and remove, in plain Python),
``assets`` (CSS and script) and ``app`` (the Gradio components, events and ``serve``: the only module that
imports gradio). This face
re-exports them; ``build_app`` and ``serve`` load ``app``, and so gradio, only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.ui.compare_render import Numbered, comparison_html, number
from rag.ui.page import ChatPage, Corpus, check_bind
from rag.ui.render import (
    ARTICLE_HEADERS,
    CONTEXT_CHARS,
    answer_html,
    article_rows,
    citation_html,
    error_html,
    gloss_html,
    sources_html,
    streaming_html,
)
from rag.ui.session import ChatSession, ask_options
from rag.ui.uploads import MAX_NAME_CHARS, FileResult, file_results, safe_name, save_uploads

if TYPE_CHECKING:
    from rag.ui.app import build_app, serve

__all__ = [
    "ARTICLE_HEADERS",
    "CONTEXT_CHARS",
    "MAX_NAME_CHARS",
    "ChatPage",
    "ChatSession",
    "Corpus",
    "FileResult",
    "Numbered",
    "answer_html",
    "article_rows",
    "ask_options",
    "build_app",
    "check_bind",
    "citation_html",
    "comparison_html",
    "error_html",
    "file_results",
    "gloss_html",
    "number",
    "safe_name",
    "save_uploads",
    "serve",
    "sources_html",
    "streaming_html",
]


def __getattr__(name: str) -> Any:
    """``build_app`` and ``serve``, imported on first use so that ``import rag.ui`` does not load gradio."""
    if name in ("build_app", "serve"):
        from rag.ui import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
