"""The chat page (UI stage): a Gradio app over one ``Assistant``.

``build_app(assistant)`` returns the page; ``serve(...)`` launches it (``rag chat``). What it owns:

* **Chat.** Answers stream in; the final, verified answer replaces the raw stream. Citation markers are
  links to the sources panel, where each cited sentence is shown highlighted inside its article context
  with file, title, language and score. Refusals look different. History is per browser session.
* **Articles.** List, upload (``.txt .md .html .pdf``; sanitized names, size limit, per-file result,
  progress) and removal.
* **Settings.** Generator, top-k, language filter, per session.

Everything that comes from an article, a question or a model is HTML-escaped here, before Gradio sees it;
markers become links only where they resolve to a citation. Errors become plain messages, never tracebacks.
Only this module imports gradio, lazily.
"""

from __future__ import annotations

import html
import ipaddress
import logging
import re
import shutil
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError, RagError
from rag.ingest.corpus import SUPPORTED_SUFFIXES

if TYPE_CHECKING:
    from rag.answer import Answer, Citation
    from rag.api import Assistant
    from rag.index.build import IngestReport

log = logging.getLogger(__name__)

CONTEXT_CHARS = 360  # article text shown on each side of a cited sentence
MAX_NAME_CHARS = 120
EXAMPLES = (
    "Who did TASS quote?",
    "Apa yang dikatakan Zakharova tentang Mark Toner?",
    "Что сказал Марк Тонер о Лаврове?",
)
GENERATOR_CHOICES = [
    ("local model", "local"),
    ("server (OpenAI-compatible)", "openai"),
    ("extractive (no LLM)", "extractive"),
]
_MARKER = re.compile(r"\[(\d{1,3})\]")

CSS = """
#sources-panel { max-height: 70vh; overflow-y: auto; }
#sources-panel .turn { display: none; }
#sources-panel .turn.shown { display: block; }
.src { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 10px; margin: 0 0 10px 0; }
.src.active, .src:focus { outline: 3px solid #0969da; }
.src .meta { font-size: 0.85em; color: #57606a; margin-bottom: 4px; }
.src .context { white-space: pre-wrap; line-height: 1.45; }
.src mark { background: #fff3a3; padding: 0 1px; }
.src.active mark { background: #ffd33d; }
.cite { text-decoration: none; font-weight: 600; }
.refusal { font-style: italic; color: #6e4b00; }
.error-msg { color: #b42318; }
.empty-note { color: #57606a; font-style: italic; }
"""

# Citation links: show that turn's sources, highlight and focus the cited one. Plain DOM, no framework.
JS = """
<script>
(() => {
  function openCitation(turn, marker) {
    const panel = document.getElementById('sources-panel');
    if (!panel) return false;
    panel.querySelectorAll('.turn').forEach(t => t.classList.toggle('shown', t.dataset.turn === turn));
    panel.querySelectorAll('.src.active').forEach(s => s.classList.remove('active'));
    const target = document.getElementById('src-' + turn + '-' + marker);
    if (!target) return false;
    target.classList.add('active');
    target.scrollIntoView({block: 'nearest'});
    target.focus({preventScroll: true});
    return true;
  }
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#src-"]');
    if (!link) return;
    const m = /^#src-(\\d+)-(\\d+)$/.exec(link.getAttribute('href') || '');
    if (!m) return;
    event.preventDefault();
    event.stopPropagation();
    openCitation(m[1], m[2]);
  }, true);
})();
</script>
"""


@dataclass(frozen=True)
class FileResult:
    """What happened to one uploaded file."""

    name: str
    result: str  # added, updated, unchanged, skipped
    detail: str = ""


# ---------------------------------------------------------------- rendering (pure, escaped) --


def answer_html(answer: Answer, turn: int) -> str:
    """The answer text, escaped, with each marker that resolves to a citation as a link to it."""
    if answer.refused:
        return f'<div class="refusal">{_text(answer.text)}</div>'
    known = {c.marker for c in answer.citations}

    def link(match: re.Match[str]) -> str:
        marker = int(match.group(1))
        if marker not in known:
            return ""  # never a marker that resolves to nothing
        return f'<a class="cite" href="#src-{turn}-{marker}" title="show source {marker}">[{marker}]</a>'

    return _MARKER.sub(link, _text(answer.text))


def streaming_html(partial: str) -> str:
    """Raw model output while it streams: escaped, markers shown as plain text until verified."""
    return _text(partial) + " …"


def error_html(message: str) -> str:
    return f'<div class="error-msg">⚠ {_text(message)}</div>'


def sources_html(
    turns: Sequence[tuple[int, Sequence[Citation]]], texts: dict[str, str], shown: int | None = None
) -> str:
    """The sources panel: one section per answered turn (only ``shown``, default the last, visible)."""
    if not turns:
        return '<p class="empty-note">Sources of an answer appear here; click a marker such as [1].</p>'
    shown = turns[-1][0] if shown is None else shown
    parts = []
    for turn, citations in turns:
        cls = "turn shown" if turn == shown else "turn"
        body = "".join(citation_html(turn, c, texts.get(c.source, "")) for c in citations)
        if not citations:
            body = '<p class="empty-note">No sources: the articles do not answer this question.</p>'
        parts.append(f'<section class="{cls}" data-turn="{turn}"><h4>Answer {turn}</h4>{body}</section>')
    return "".join(parts)


def citation_html(turn: int, c: Citation, article: str) -> str:
    """One cited sentence highlighted inside its article context (everything escaped)."""
    if article[c.start : c.end] == c.quote:
        lo = _boundary(article, max(0, c.start - CONTEXT_CHARS), backward=True)
        hi = _boundary(article, min(len(article), c.end + CONTEXT_CHARS), backward=False)
        before, after = article[lo : c.start], article[c.end : hi]
        lead, tail = ("… " if lo > 0 else ""), (" …" if hi < len(article) else "")
    else:  # the article changed since the answer: show the quote alone
        before = after = lead = tail = ""
    meta = (
        f"[{c.marker}] <b>{_text(c.title)}</b> · {_text(c.source)} [{c.start}:{c.end}] · "
        f"language {_text(c.language)} · score {c.score:.2f}"
    )
    return (
        f'<div class="src" id="src-{turn}-{c.marker}" tabindex="0" data-source="{_attr(c.source)}" '
        f'data-start="{c.start}" data-end="{c.end}">'
        f'<div class="meta">{meta}</div><div class="context">{lead}{_text(before)}'
        f"<mark>{_text(c.quote)}</mark>{_text(after)}{tail}</div></div>"
    )


def article_rows(records: Sequence[Any]) -> list[list[Any]]:
    return [
        [r.source, r.title, r.language, r.chunk_count, r.ingested_at[:19].replace("T", " ")] for r in records
    ]


def _text(value: str) -> str:
    return html.escape(value, quote=False)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _boundary(text: str, index: int, backward: bool) -> int:
    """Move ``index`` to a nearby whitespace so the context does not cut a word."""
    window = text[max(0, index - 40) : index] if backward else text[index : index + 40]
    spaces = [m.start() for m in re.finditer(r"\s", window)]
    if not spaces or index in (0, len(text)):
        return index
    return index - len(window) + spaces[-1] + 1 if backward else index + spaces[0]


# ---------------------------------------------------------------- uploads (pure) --


def safe_name(name: str) -> str:
    """A file name safe to write into the upload folder: no folders, no traversal, no odd characters."""
    base = PurePosixPath(unicodedata.normalize("NFKC", name).replace("\\", "/")).name
    base = re.sub(r"[^\w.\-]+", "_", base, flags=re.UNICODE).strip("._-") or "upload"
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = suffix[:10].lower()
    stem = stem[: MAX_NAME_CHARS - len(suffix) - 1] or "upload"
    return f"{stem}.{suffix}" if suffix else stem


def file_results(report: IngestReport, names: dict[str, str]) -> list[FileResult]:
    """Per-file lines of an ingest report; ``names`` maps a source to the name the user uploaded."""
    out = [FileResult(names.get(s, s), "added") for s in report.added]
    out += [FileResult(names.get(s, s), "updated", "new text replaced the old") for s in report.updated]
    out += [
        FileResult(names.get(s, s), "unchanged", "already indexed with the same text")
        for s in report.unchanged
    ]
    out += [FileResult(names.get(s.source, s.source), "skipped", s.reason) for s in report.skipped]
    return out


def save_uploads(
    paths: Sequence[str], folder: Path, max_bytes: int
) -> tuple[list[Path], list[FileResult], dict[str, str]]:
    """Copy uploaded temp files into ``folder`` under sanitized names; refuse wrong types and sizes."""
    folder.mkdir(parents=True, exist_ok=True)
    saved, rejected, names = [], [], {}
    for raw in paths:
        path = Path(raw)
        original = path.name
        name = safe_name(original)
        suffix = Path(name).suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            rejected.append(
                FileResult(
                    original,
                    "skipped",
                    f"unsupported file type {suffix or '(none)'}; use {', '.join(SUPPORTED_SUFFIXES)}",
                )
            )
            continue
        size = path.stat().st_size
        if size > max_bytes:
            rejected.append(
                FileResult(
                    original,
                    "skipped",
                    f"too large: {size / 2**20:.1f} MiB > {max_bytes / 2**20:.1f} MiB (RAG_MAX_FILE_MB)",
                )
            )
            continue
        target = folder / name
        shutil.copyfile(path, target)
        saved.append(target)
        names[str(target)] = original
    return saved, rejected, names


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


# ---------------------------------------------------------------- the page --


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
        session = session or ChatSession()
        question = (question or "").strip()
        panel = self.sources(session)  # unchanged until the answer is verified
        if not question:
            yield chat, session, panel, ""
            return
        chat = [*chat, {"role": "user", "content": _text(question)}, {"role": "assistant", "content": " …"}]
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
    def articles(self) -> tuple[list[list[Any]], Any, Any]:
        import gradio as gr

        records = self.assistant.sources()
        languages = sorted({r.language for r in records})
        return (
            article_rows(records),
            gr.update(choices=[r.source for r in records], value=None),
            gr.update(choices=languages),
        )

    def upload(self, files: Sequence[Any] | None, progress: Any = None) -> tuple[Any, ...]:
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
        table = [[r.name, r.result, r.detail] for r in rows]
        return (table, None, *self.articles())

    def remove(self, source: str | None) -> tuple[Any, ...]:
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
        return (message, *self.articles())


def build_app(assistant: Assistant) -> Any:
    """The Gradio Blocks app for ``assistant`` (``serve`` launches it)."""
    import gradio as gr

    page = ChatPage(assistant)
    s = assistant.settings
    with gr.Blocks(title="Ask the articles", analytics_enabled=False) as app:
        gr.Markdown(
            "## Ask the articles\nAnswers cite the exact sentences they rest on; click a marker such "
            "as [1] to see it in its article."
        )
        session = gr.State(None)
        with gr.Tab("Chat"):
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(
                        elem_id="chat",
                        label="Chat",
                        height=480,
                        sanitize_html=True,
                        feedback_options=None,
                        buttons=["copy"],
                    )
                    question = gr.Textbox(
                        elem_id="question",
                        label="Question",
                        lines=1,
                        max_lines=6,
                        placeholder="Ask in any language, then press Enter",
                        autofocus=True,
                    )
                    with gr.Row():
                        send = gr.Button("Send", variant="primary", elem_id="send")
                        new = gr.Button("New chat", elem_id="new-chat")
                    gr.Examples([[e] for e in EXAMPLES], inputs=[question], label="Examples")
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    sources = gr.HTML(sources_html([], {}), elem_id="sources-panel")
            with gr.Accordion("Settings", open=False, elem_id="settings"):
                generator = gr.Radio(
                    GENERATOR_CHOICES, value=s.generator, label="Generator", elem_id="generator"
                )
                top_k = gr.Slider(
                    1, 20, value=s.top_k, step=1, label="Passages to read (top-k)", elem_id="top-k"
                )
                languages = gr.CheckboxGroup(
                    [], label="Only articles in these languages (none: all)", elem_id="languages"
                )
        with gr.Tab("Articles"):
            articles = gr.Dataframe(
                headers=["File", "Title", "Language", "Chunks", "Ingested (UTC)"],
                interactive=False,
                elem_id="articles",
                wrap=True,
            )
            uploads = gr.File(
                label=f"Upload articles ({', '.join(SUPPORTED_SUFFIXES)}; at most {s.max_file_mb:g} MB each)",
                file_count="multiple",
                file_types=list(SUPPORTED_SUFFIXES),
                elem_id="upload",
            )
            add = gr.Button("Add to index", variant="primary", elem_id="add")
            results = gr.Dataframe(
                headers=["File", "Result", "Detail"], interactive=False, elem_id="results", wrap=True
            )
            with gr.Row():
                to_remove = gr.Dropdown([], label="Article", elem_id="remove-choice")
                remove = gr.Button("Remove", variant="stop", elem_id="remove")
            removed = gr.Markdown(elem_id="removed")

        ask_inputs = [question, chat, session, generator, top_k, languages]
        ask_outputs = [chat, session, sources, question]
        question.submit(page.respond, ask_inputs, ask_outputs, concurrency_limit=4, show_progress="hidden")
        send.click(page.respond, ask_inputs, ask_outputs, concurrency_limit=4, show_progress="hidden")
        new.click(_new_chat, None, ask_outputs, queue=False)
        chat.clear(_new_chat, None, ask_outputs, queue=False)  # the chat's own clear button

        def upload(files: Any, progress: Any = gr.Progress()) -> tuple[Any, ...]:
            return page.upload(files, progress)

        corpus_outputs = [articles, to_remove, languages]
        add.click(upload, [uploads], [results, uploads, *corpus_outputs], concurrency_limit=1)
        remove.click(page.remove, [to_remove], [removed, *corpus_outputs], concurrency_limit=1)
        app.load(page.articles, None, corpus_outputs)
    return app


def _new_chat() -> tuple[Any, ...]:
    return [], None, sources_html([], {}), ""


def _launch_kwargs(settings: Any) -> dict[str, Any]:
    """Theme, CSS, JS and limits for ``app.launch`` (Gradio 6 takes them there). System fonts only: the
    page loads nothing from outside."""
    import gradio as gr

    fonts = ["ui-sans-serif", "system-ui", "sans-serif"]
    mono = ["ui-monospace", "monospace"]
    return {
        "theme": gr.themes.Default(font=fonts, font_mono=mono),
        "css": CSS,
        "head": JS,
        "max_file_size": settings.max_file_bytes,
        "footer_links": [],
        "show_error": False,
    }


def serve(assistant: Assistant, host: str = "127.0.0.1", port: int = 7860) -> Any:
    """Warm the models, then launch the page in the background; returns the running app
    (``app.block_thread()`` waits, ``app.close()`` stops it)."""
    s = assistant.settings
    auth = check_bind(host, s.chat_user, s.chat_password)
    log.info("loading models ...")
    assistant.warm()
    app = build_app(assistant)
    app.queue(default_concurrency_limit=4)
    try:
        app.launch(
            server_name=host,
            server_port=port,
            auth=auth,
            prevent_thread_lock=True,
            quiet=True,
            **_launch_kwargs(s),
        )
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}; choose another with --port") from None
    return app
