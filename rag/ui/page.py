"""What the chat page does, in plain Python (no gradio, testable without a browser): per-session history
and citations, asking with a streamed then verified answer, the articles list, uploads, removal, and who may
open the page (``check_bind``). ``rag.ui.app`` wires these handlers to the Gradio components.

Errors become plain messages, never tracebacks.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError, RagError
from rag.ui.render import answer_html, article_rows, error_html, question_html, sources_html, streaming_html
from rag.ui.uploads import FileResult, file_results, save_uploads

if TYPE_CHECKING:
    from rag.answer import Answer, Citation
    from rag.api import Assistant

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Corpus:
    """The articles tab's view of the index: table rows, removable sources and the languages to filter."""

    rows: list[list[Any]]
    sources: list[str]
    languages: list[str]


class ChatSession:
    """Per-browser-session state: turns for follow-ups and the citations of each answer."""

    def __init__(self) -> None:
        self.history: list[tuple[str, str]] = []
        self.turns: list[tuple[int, tuple[Citation, ...]]] = []

    def add(self, question: str, answer: Answer) -> int:
        turn = len(self.turns) + 1
        self.turns.append((turn, answer.citations))
        if not answer.refused:
            self.history.append((question, answer.text))
        return turn


class ChatPage:
    """Event handlers of the page, bound to one assistant (shared by all sessions)."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.upload_dir = assistant.settings.index_dir / "uploads"

    # chat
    def respond(
        self,
        question: str,
        chat: list[dict],
        session: ChatSession | None,
        generator: str,
        k: float,
        languages: list[str],
    ) -> Iterator[tuple[Any, ...]]:
        """Yield (chat, session, sources panel, question box) while the answer streams, then verified."""
        session = session or ChatSession()
        question = (question or "").strip()
        panel = self.sources(session)  # unchanged until the answer is verified
        if not question:
            yield chat, session, panel, ""
            return
        chat = [*chat, {"role": "user", "content": question_html(question)}]
        chat.append({"role": "assistant", "content": " …"})
        yield chat, session, panel, ""
        try:
            answer = None
            text = ""
            for piece in self.assistant.ask_stream(
                question, session.history, generator=generator, k=int(k), language=languages or None
            ):
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
        except RagError as exc:
            chat[-1] = {"role": "assistant", "content": error_html(str(exc))}
        except Exception as exc:  # never a traceback on the page
            log.exception("answering failed")
            chat[-1] = {
                "role": "assistant",
                "content": error_html(f"unexpected error ({type(exc).__name__}); see the server log"),
            }
        yield chat, session, self.sources(session), ""

    def sources(self, session: ChatSession) -> str:
        texts = {}
        for _, citations in session.turns:
            for c in citations:
                if c.source not in texts:
                    texts[c.source] = self._article_text(c.source)
        return sources_html(session.turns, texts)

    def _article_text(self, source: str) -> str:
        try:
            return self.assistant.article_text(source)
        except RagError:
            return ""  # removed since: the panel shows the quote alone

    # corpus
    def corpus(self) -> Corpus:
        records = self.assistant.sources()
        languages = sorted({r.language for r in records})
        return Corpus(article_rows(records), [r.source for r in records], languages)

    def upload(self, files: Sequence[Any] | None, progress: Any = None) -> tuple[list[list[str]], Corpus]:
        """Store and ingest the uploaded files one by one; a result line per file, then the new corpus."""
        paths = [getattr(f, "name", f) for f in files or []]
        rows: list[FileResult] = []
        if not paths:
            rows.append(FileResult("", "skipped", "choose one or more files first"))
        else:
            try:
                saved, rejected, names = save_uploads(
                    paths, self.upload_dir, self.assistant.settings.max_file_bytes
                )
                rows.extend(rejected)
                for i, path in enumerate(saved):
                    if progress is not None:
                        progress((i, len(saved)), desc=f"ingesting {names[str(path)]}", unit="files")
                    rows.extend(file_results(self.assistant.ingest([path], progress=False), names))
                    if progress is not None:
                        progress((i + 1, len(saved)), desc=f"ingested {names[str(path)]}", unit="files")
            except RagError as exc:
                rows.append(FileResult("", "error", str(exc)))
            except OSError as exc:
                rows.append(FileResult("", "error", f"could not store the upload: {exc.strerror or exc}"))
        return [[r.name, r.result, r.detail] for r in rows], self.corpus()

    def remove(self, source: str | None) -> tuple[str, Corpus]:
        """Remove one article (and its uploaded file, if the page stored it); a message, then the corpus."""
        if not source:
            message = "Choose an article to remove."
        else:
            try:
                record = self.assistant.remove(source)
                uploaded = Path(record.source)
                if uploaded.parent.resolve() == self.upload_dir.resolve():
                    uploaded.unlink(missing_ok=True)
                message = f"Removed {record.source} ({record.chunk_count} chunks)."
            except RagError as exc:
                message = f"Could not remove {source}: {exc}"
        return message, self.corpus()


def check_bind(host: str, user: str, password: str) -> tuple[str, str] | None:
    """Credentials to require, or None; a non-loopback address without credentials is refused."""
    if user and password:
        return (user, password)
    if user or password:
        raise ConfigError("set both RAG_CHAT_USER and RAG_CHAT_PASSWORD, or neither")
    if not _loopback(host):
        raise ConfigError(
            f"binding {host} exposes the page beyond this machine: set RAG_CHAT_USER and "
            "RAG_CHAT_PASSWORD, or use --host 127.0.0.1"
        )
    return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
