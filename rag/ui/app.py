"""The Gradio app of the chat page: its components (element ids and labels the browser tests use), the
events wired to ``rag.ui.page.ChatPage``, styling, and ``serve`` (``rag chat``). The only module of the
package that imports gradio; ``rag.ui`` loads it on first use of ``build_app`` or ``serve``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from rag.errors import ConfigError
from rag.ingest.corpus import SUPPORTED_SUFFIXES
from rag.ui.page import ChatPage, Corpus, check_bind
from rag.ui.render import sources_html

if TYPE_CHECKING:
    from rag.api import Assistant

log = logging.getLogger(__name__)

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
class _ChatTab:
    chat: Any
    question: Any
    send: Any
    new: Any
    sources: Any
    generator: Any
    top_k: Any
    languages: Any


@dataclass(frozen=True)
class _ArticlesTab:
    articles: Any
    uploads: Any
    add: Any
    results: Any
    to_remove: Any
    remove: Any
    removed: Any


def build_app(assistant: Assistant) -> Any:
    """The Gradio Blocks app for ``assistant`` (``serve`` launches it)."""
    page = ChatPage(assistant)
    with gr.Blocks(title="Ask the articles", analytics_enabled=False) as app:
        gr.Markdown(
            "## Ask the articles\nAnswers cite the exact sentences they rest on; click a marker such "
            "as [1] to see it in its article."
        )
        session = gr.State(None)
        with gr.Tab("Chat"):
            chat = _chat_tab(assistant.settings)
        with gr.Tab("Articles"):
            articles = _articles_tab(assistant.settings)
        _wire_chat(page, chat, session)
        _wire_articles(app, page, articles, chat.languages)
    return app


def _chat_tab(s: Any) -> _ChatTab:
    """The conversation, its sources panel and the per-session settings."""
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
        generator = gr.Radio(GENERATOR_CHOICES, value=s.generator, label="Generator", elem_id="generator")
        top_k = gr.Slider(1, 20, value=s.top_k, step=1, label="Passages to read (top-k)", elem_id="top-k")
        languages = gr.CheckboxGroup(
            [], label="Only articles in these languages (none: all)", elem_id="languages"
        )
    return _ChatTab(chat, question, send, new, sources, generator, top_k, languages)


def _articles_tab(s: Any) -> _ArticlesTab:
    """The articles list, uploads with per-file results, and removal."""
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
    return _ArticlesTab(articles, uploads, add, results, to_remove, remove, removed)


def _wire_chat(page: ChatPage, tab: _ChatTab, session: Any) -> None:
    ask_inputs = [tab.question, tab.chat, session, tab.generator, tab.top_k, tab.languages]
    ask_outputs = [tab.chat, session, tab.sources, tab.question]
    tab.question.submit(page.respond, ask_inputs, ask_outputs, concurrency_limit=4, show_progress="hidden")
    tab.send.click(page.respond, ask_inputs, ask_outputs, concurrency_limit=4, show_progress="hidden")
    tab.new.click(_new_chat, None, ask_outputs, queue=False)
    tab.chat.clear(_new_chat, None, ask_outputs, queue=False)  # the chat's own clear button


def _wire_articles(app: Any, page: ChatPage, tab: _ArticlesTab, languages: Any) -> None:
    """Upload and removal events, and the corpus shown when the page loads."""

    def articles() -> tuple[Any, ...]:
        return _corpus_updates(page.corpus())

    def upload(files: Any, progress: Any = gr.Progress()) -> tuple[Any, ...]:
        table, corpus = page.upload(files, progress)
        return (table, None, *_corpus_updates(corpus))  # None empties the upload box

    def remove(source: str | None) -> tuple[Any, ...]:
        message, corpus = page.remove(source)
        return (message, *_corpus_updates(corpus))

    corpus_outputs = [tab.articles, tab.to_remove, languages]
    tab.add.click(upload, [tab.uploads], [tab.results, tab.uploads, *corpus_outputs], concurrency_limit=1)
    tab.remove.click(remove, [tab.to_remove], [tab.removed, *corpus_outputs], concurrency_limit=1)
    app.load(articles, None, corpus_outputs)


def _corpus_updates(corpus: Corpus) -> tuple[Any, Any, Any]:
    """The articles table, the removal choices (reset) and the language filter's choices."""
    return (
        corpus.rows,
        gr.update(choices=corpus.sources, value=None),
        gr.update(choices=corpus.languages),
    )


def _new_chat() -> tuple[Any, ...]:
    return [], None, sources_html([], {}), ""


def _launch_kwargs(settings: Any) -> dict[str, Any]:
    """Theme, CSS, JS and limits for ``app.launch`` (Gradio 6 takes them there). System fonts only: the
    page loads nothing from outside."""
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
