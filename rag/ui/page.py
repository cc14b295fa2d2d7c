"""What the chat page does, in plain Python (no gradio, testable without a browser): asking with a
streamed then verified answer, comparing sources, exporting and loading a chat, the articles list,
uploads, removal, and who may open the page (``check_bind``). Per-session state is
``rag.ui.session.ChatSession``; ``rag.ui.app`` wires these handlers to the Gradio components.

Errors become plain messages, never tracebacks.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError, QueryError, RagError
from rag.settings import is_loopback
from rag.ui.compare_render import comparison_html
from rag.ui.render import (
    answer_html,
    article_rows,
    error_html,
    question_html,
    sources_html,
    streaming_html,
)
from rag.ui.session import ChatSession, ask_options
from rag.ui.timeline import timeline_html
from rag.ui.uploads import FileResult, file_results, ingest_uploads, remove_uploaded, upload_dir

if TYPE_CHECKING:
    from rag.api import Assistant

log = logging.getLogger(__name__)
Update = tuple[list[dict], ChatSession, str, str]  # chat messages, session, sources panel, question box
EXPORTS = {"markdown": "chat.md", "json": "chat.json"}


@dataclass(frozen=True)
class Corpus:
    """The articles tab's view of the index: table rows, removable sources, and the languages and outlets
    to filter on."""

    rows: list[list[Any]]
    sources: list[str]
    languages: list[str]
    outlets: list[str]
    timeline: str = ""  # the events timeline (``rag.ui.timeline``)


class ChatPage:
    """Event handlers of the page, bound to one assistant (shared by all sessions)."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.upload_dir = upload_dir(assistant.settings)

    # chat
    def respond(
        self,
        question: str,
        chat: list[dict],
        session: ChatSession | None,
        generator: str,
        k: float,
        languages: list[str],
        outlets: list[str] | None = None,
        since: str = "",
        until: str = "",
        gloss: bool = False,
    ) -> Iterator[Update]:
        """Yield (chat, session, sources panel, question box) while the answer streams, then verified."""
        question, chat, session, panel = self._begin(question, chat, session, " …")
        yield chat, session, panel, ""  # the panel is unchanged until the answer is verified
        if not question:
            return
        options = ask_options(generator, k, languages, outlets, since, until, gloss)
        try:
            answer = None
            text = ""
            for piece in self.assistant.ask_stream(question, session.history, **options):
                if isinstance(piece, str):
                    text += piece
                    chat[-1] = {"role": "assistant", "content": streaming_html(text)}
                    yield chat, session, panel, ""
                else:
                    answer = piece
            if answer is None:
                raise RagError("no answer was produced")
            turn = session.add(question, answer)
            chat[-1] = {"role": "assistant", "content": answer_html(answer, turn)}
        except Exception as exc:  # never a traceback on the page
            chat[-1] = {"role": "assistant", "content": _failure(exc, "answering")}
        yield chat, session, self.sources(session), ""

    def compare(
        self,
        question: str,
        chat: list[dict],
        session: ChatSession | None,
        generator: str,
        k: float,
        languages: list[str],
        outlets: list[str] | None = None,
        since: str = "",
        until: str = "",
        gloss: bool = False,
    ) -> Iterator[Update]:
        """Compare the sources on the question: yield the chat with a placeholder, then with the
        comparison (each source's answer, then agreements and differences) as the assistant's message."""
        placeholder = streaming_html("comparing the sources")
        question, chat, session, panel = self._begin(question, chat, session, placeholder)
        yield chat, session, panel, ""
        if not question:
            return
        options = ask_options(generator, k, languages, outlets, since, until, gloss)
        try:
            comparison = self.assistant.compare(question, **options)
            turn = session.add_comparison(question, comparison)
            chat[-1] = {"role": "assistant", "content": comparison_html(comparison, turn)}
        except Exception as exc:  # never a traceback on the page
            chat[-1] = {"role": "assistant", "content": _failure(exc, "comparing")}
        yield chat, session, self.sources(session), ""

    def _begin(
        self, question: str, chat: list[dict], session: ChatSession | None, placeholder: str
    ) -> tuple[str, list[dict], ChatSession, str]:
        """A turn's opening: the question stripped; the chat with it and the assistant's ``placeholder``
        appended (unchanged for an empty question); the session; the sources panel."""
        session = session or ChatSession()
        question = (question or "").strip()
        if question:
            asked = {"role": "user", "content": question_html(question)}
            chat = [*chat, asked, {"role": "assistant", "content": placeholder}]
        return question, chat, session, self.sources(session)

    def exports(self, session: ChatSession | None) -> tuple[str | None, str | None]:
        """The session's chat written as Markdown and as JSON (paths for the download buttons); None for
        both while the chat is empty."""
        if session is None or not session.chat:
            return None, None
        try:
            session.folder = session.folder or tempfile.mkdtemp(prefix="rag-chat-")
            paths = []
            for fmt, name in EXPORTS.items():
                path = Path(session.folder) / name
                path.write_text(self.assistant.export(session.chat, fmt), encoding="utf-8")
                paths.append(str(path))
        except (OSError, RagError) as exc:  # the chat goes on; only its download is missing
            log.warning("could not export the chat: %s", exc)
            return None, None
        return paths[0], paths[1]

    def load_chat(
        self, file: Any, chat: list[dict], session: ChatSession | None
    ) -> tuple[list[dict], ChatSession | None, str, str]:
        """Replace the session with an exported chat: (chat, session, sources panel, notice). A file that
        is not a chat of this index leaves the chat as it was, with a message saying why."""
        path = getattr(file, "name", file)
        name = Path(path).name if path else ""
        try:
            if not path:
                raise QueryError("choose a chat export (.json) first")
            try:
                text = Path(path).read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise QueryError("not a chat export: the file is not UTF-8 text") from None
            except OSError as exc:
                raise QueryError(f"could not read the file: {exc.strerror or exc}") from None
            loaded = ChatSession.of(self.assistant.load_chat(text))
        except Exception as exc:  # the chat stays as it was
            panel = self.sources(session) if session else sources_html([], {})
            return chat, session, panel, _failure(exc, "loading a chat", f"Could not load {name}: ")
        turns = f"{len(loaded.chat)} turn{'' if len(loaded.chat) == 1 else 's'}"
        notice = f'<div class="notice">Loaded {turns} from {question_html(name)}.</div>'
        return loaded.messages(), loaded, self.sources(loaded), notice

    def sources(self, session: ChatSession) -> str:
        texts = {}
        for _, citations in session.turns:
            for c in citations:
                if c.source not in texts:
                    texts[c.source] = self._article_text(c.source)
        return sources_html(session.turns, texts, labels=session.labels)

    def _article_text(self, source: str) -> str:
        try:
            return self.assistant.article_text(source)
        except RagError:
            return ""  # removed since: the panel shows the quote alone

    # corpus
    def corpus(self, language: str | None = None) -> Corpus:
        """The Articles tab's view; event labels in ``language`` (the browser's) where a report is."""
        records = self.assistant.sources()
        events = self.assistant.events(language)
        languages = sorted({r.language for r in records})
        outlets = sorted({r.outlet for r in records if r.outlet}, key=str.casefold)
        rows = article_rows(records, events)
        return Corpus(rows, [r.source for r in records], languages, outlets, timeline_html(events, records))

    def upload(
        self, files: Sequence[Any] | None, progress: Any = None, language: str | None = None
    ) -> tuple[list[list[str]], Corpus]:
        """Store and ingest the uploaded files one by one; a result line per file, then the new corpus."""
        paths = [getattr(f, "name", f) for f in files or []]
        rows: list[FileResult] = []

        def step(done: int, total: int, what: str) -> None:
            if progress is not None:
                progress((done, total), desc=what, unit="files")

        if not paths:
            rows.append(FileResult("", "skipped", "choose one or more files first"))
        else:
            try:
                ingest_uploads(
                    lambda targets: self.assistant.ingest(targets, progress=False),
                    paths,
                    self.upload_dir,
                    self.assistant.settings.max_file_bytes,
                    step=step,
                    rows=rows,
                )
            except RagError as exc:
                rows.append(FileResult("", "error", str(exc)))
            except OSError as exc:
                rows.append(FileResult("", "error", f"could not store the upload: {exc.strerror or exc}"))
        return [[r.name, r.result, r.detail] for r in rows], self.corpus(language)

    def add_urls(
        self, text: str | None, progress: Any = None, language: str | None = None
    ) -> tuple[list[list[str]], Corpus]:
        """Fetch and ingest the web pages (or the entries of the RSS/Atom feeds) named in ``text``, one
        URL per line or separated by spaces; a result line per page, then the new corpus."""
        words = (text or "").split()
        urls = [w for w in words if w.lower().startswith(("http://", "https://"))]
        rows = [["", "skipped", f"not an http(s) URL: {w}"] for w in words if w not in urls]
        if not words:
            rows.append(["", "skipped", "paste one or more http(s) URLs first"])
        if urls:
            if progress is not None:
                progress((0, len(urls)), desc="fetching", unit="pages")
            try:
                report = self.assistant.ingest(urls, progress=False)
            except RagError as exc:
                rows.append(["", "error", str(exc)])
            else:
                rows += [[r.name, r.result, r.detail] for r in file_results(report, {})]
        return rows, self.corpus(language)

    def remove(self, source: str | None, language: str | None = None) -> tuple[str, Corpus]:
        """Remove one article (and its uploaded file, if the page stored it); a message, then the corpus."""
        if not source:
            message = "Choose an article to remove."
        else:
            try:
                record = self.assistant.remove(source)
                remove_uploaded(record.source, self.upload_dir)
                message = f"Removed {record.source} ({record.chunk_count} chunks)."
            except RagError as exc:
                message = f"Could not remove {source}: {exc}"
        return message, self.corpus(language)


def check_bind(host: str, user: str, password: str) -> tuple[str, str] | None:
    """Credentials to require, or None; a non-loopback address without credentials is refused."""
    if user and password:
        return (user, password)
    if user or password:
        raise ConfigError("set both RAG_CHAT_USER and RAG_CHAT_PASSWORD, or neither")
    if not is_loopback(host):
        raise ConfigError(
            f"binding {host} exposes the page beyond this machine: set RAG_CHAT_USER and "
            "RAG_CHAT_PASSWORD, or use --host 127.0.0.1"
        )
    return None


def _failure(exc: Exception, doing: str, lead: str = "") -> str:
    """The chat's message for a failure: the error's own words for a ``RagError``, else its kind."""
    if isinstance(exc, RagError):
        return error_html(lead + str(exc))
    log.error("%s failed", doing, exc_info=exc)
    return error_html(f"{lead}unexpected error ({type(exc).__name__}); see the server log")
