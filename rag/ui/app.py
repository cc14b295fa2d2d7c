"""The Gradio app of the chat page: its components (element ids and labels the browser tests use), the
events wired to ``rag.ui.page.ChatPage``, styling, and ``serve`` (``rag chat``). The only module of the
package that imports gradio; ``rag.ui`` loads it on first use of ``build_app`` or ``serve``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from rag.errors import ConfigError
from rag.ingest.corpus import SUPPORTED_SUFFIXES
from rag.ui.assets import CSS, JS
from rag.ui.page import ChatPage, Corpus, check_bind
from rag.ui.render import ARTICLE_HEADERS, sources_html

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


@dataclass(frozen=True)
class _ChatTab:
    chat: Any
    question: Any
    send: Any
    compare: Any
    new: Any
    export_md: Any
    export_json: Any
    load: Any
    notice: Any
    sources: Any
    settings: _Settings


@dataclass(frozen=True)
class _Settings:
    generator: Any
    top_k: Any
    languages: Any
    outlets: Any
    since: Any
    until: Any
    gloss: Any

    def inputs(self) -> list[Any]:
        """In the order ``ChatPage.respond`` and ``ChatPage.compare`` take them after the session."""
        return [self.generator, self.top_k, self.languages, self.outlets, self.since, self.until, self.gloss]


@dataclass(frozen=True)
class _ArticlesTab:
    timeline: Any
    articles: Any
    uploads: Any
    add: Any
    urls: Any
    fetch: Any
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
        _wire_articles(app, page, articles, chat.settings)
    return app


def _chat_tab(s: Any) -> _ChatTab:
    """The conversation, its buttons, its sources panel and the per-session settings."""
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
                compare = gr.Button("Compare sources", elem_id="compare")
                new = gr.Button("New chat", elem_id="new-chat")
            with gr.Row():
                export_md = gr.DownloadButton("Export Markdown", elem_id="export-md", interactive=False)
                export_json = gr.DownloadButton("Export JSON", elem_id="export-json", interactive=False)
                load = gr.UploadButton("Load chat", file_types=[".json"], elem_id="load-chat")
            notice = gr.HTML("", elem_id="chat-notice")
            gr.Examples([[e] for e in EXAMPLES], inputs=[question], label="Examples")
        with gr.Column(scale=2):
            gr.Markdown("### Sources")
            sources = gr.HTML(sources_html([], {}), elem_id="sources-panel")
    settings = _settings_accordion(s)
    return _ChatTab(
        chat, question, send, compare, new, export_md, export_json, load, notice, sources, settings
    )


def _settings_accordion(s: Any) -> _Settings:
    with gr.Accordion("Settings", open=False, elem_id="settings"):
        generator = gr.Radio(GENERATOR_CHOICES, value=s.generator, label="Generator", elem_id="generator")
        top_k = gr.Slider(1, 20, value=s.top_k, step=1, label="Passages to read (top-k)", elem_id="top-k")
        languages = gr.CheckboxGroup(
            [], label="Only articles in these languages (none: all)", elem_id="languages"
        )
        outlets = gr.CheckboxGroup(
            [], label="Only articles from these outlets (none: all)", elem_id="outlets"
        )
        with gr.Row():
            since = gr.Textbox(label="Published since", placeholder="YYYY-MM-DD", elem_id="since")
            until = gr.Textbox(label="Published until", placeholder="YYYY-MM-DD", elem_id="until")
        gloss = gr.Checkbox(
            False, label="Translate quotes in other languages (machine translation)", elem_id="gloss"
        )
    return _Settings(generator, top_k, languages, outlets, since, until, gloss)


def _articles_tab(s: Any) -> _ArticlesTab:
    """The articles list, uploads and web pages by URL with per-file results, and removal."""
    timeline = gr.HTML(elem_id="timeline", label="Events: reports by date and outlet")
    articles = gr.Dataframe(
        headers=ARTICLE_HEADERS,
        interactive=False,
        elem_id="articles",
        wrap=True,
        column_widths=["15%", "24%", "6%", "5%", "10%", "8%", "8%", "10%", "14%"],
    )
    uploads = gr.File(
        label=f"Upload articles ({', '.join(SUPPORTED_SUFFIXES)}; at most {s.max_file_mb:g} MB each)",
        file_count="multiple",
        file_types=list(SUPPORTED_SUFFIXES),
        elem_id="upload",
    )
    add = gr.Button("Add to index", variant="primary", elem_id="add")
    with gr.Row():
        urls = gr.Textbox(
            label="Web pages (one URL per line; a feed's URL adds the page of each of its entries)",
            placeholder="https://example.com/news/story.html",
            lines=2,
            scale=4,
            elem_id="urls",
        )
        fetch = gr.Button("Fetch and add", scale=1, elem_id="add-urls")
    results = gr.Dataframe(
        headers=["File", "Result", "Detail"], interactive=False, elem_id="results", wrap=True
    )
    with gr.Row():
        to_remove = gr.Dropdown([], label="Article", elem_id="remove-choice")
        remove = gr.Button("Remove", variant="stop", elem_id="remove")
    removed = gr.Markdown(elem_id="removed")
    return _ArticlesTab(timeline, articles, uploads, add, urls, fetch, results, to_remove, remove, removed)


def _wire_chat(page: ChatPage, tab: _ChatTab, session: Any) -> None:
    """Ask, compare, new chat, and export / load. The download buttons get the chat's files in the same
    update that shows a new turn, so a click right after it downloads the whole chat."""
    ask_inputs = [tab.question, tab.chat, session, *tab.settings.inputs()]
    ask_outputs = [tab.chat, session, tab.sources, tab.question, tab.export_md, tab.export_json]
    asking = {"concurrency_id": "chat", "concurrency_limit": 4, "show_progress": "hidden"}
    respond, compare = _exporting(page, page.respond), _exporting(page, page.compare)
    tab.question.submit(respond, ask_inputs, ask_outputs, api_name="respond", **asking)  # rag bench load
    tab.send.click(respond, ask_inputs, ask_outputs, **asking)
    tab.compare.click(compare, ask_inputs, ask_outputs, **asking)
    tab.new.click(_new_chat, None, [*ask_outputs, tab.notice], queue=False)
    tab.chat.clear(_new_chat, None, [*ask_outputs, tab.notice], queue=False)  # the chat's own clear button

    def load(file: Any, chat: list[dict], state: Any) -> tuple[Any, ...]:
        chat, loaded, panel, notice = page.load_chat(file, chat, state)
        return chat, loaded, panel, notice, *_downloads(page, loaded if loaded is not state else None)

    load_outputs = [tab.chat, session, tab.sources, tab.notice, tab.export_md, tab.export_json]
    tab.load.upload(load, [tab.load, tab.chat, session], load_outputs, concurrency_limit=1)


def _exporting(page: ChatPage, handler: Any) -> Any:
    """``handler``'s updates, each followed by the download buttons' files: new ones when its session has
    gained a turn, unchanged otherwise (while the answer streams, or after an error)."""

    def run(question: str, chat: list[dict], state: Any, *settings: Any) -> Iterator[tuple[Any, ...]]:
        before = len(state.chat) if state is not None else 0
        for update in handler(question, chat, state, *settings):
            yield (*update, *_downloads(page, update[1] if len(update[1].chat) != before else None))

    return run


def _downloads(page: ChatPage, session: Any) -> tuple[Any, Any]:
    """The download buttons' files for ``session`` (disabled while its chat is empty); unchanged for
    None."""
    if session is None:
        return gr.skip(), gr.skip()
    md, js = page.exports(session)
    return gr.update(value=md, interactive=md is not None), gr.update(value=js, interactive=js is not None)


def _wire_articles(app: Any, page: ChatPage, tab: _ArticlesTab, settings: _Settings) -> None:
    """Upload and removal events, and the corpus shown when the page loads."""

    def articles(request: gr.Request) -> tuple[Any, ...]:
        return _corpus_updates(page.corpus(browser_language(request)))

    def upload(files: Any, request: gr.Request, progress: Any = gr.Progress()) -> tuple[Any, ...]:
        table, corpus = page.upload(files, progress, browser_language(request))
        return (table, None, *_corpus_updates(corpus))  # None empties the upload box

    def add_urls(text: str, request: gr.Request, progress: Any = gr.Progress()) -> tuple[Any, ...]:
        table, corpus = page.add_urls(text, progress, browser_language(request))
        return (table, "", *_corpus_updates(corpus))  # "" empties the URL box

    def remove(source: str | None, request: gr.Request) -> tuple[Any, ...]:
        message, corpus = page.remove(source, browser_language(request))
        return (message, *_corpus_updates(corpus))

    corpus_outputs = [tab.articles, tab.to_remove, settings.languages, settings.outlets, tab.timeline]
    tab.add.click(upload, [tab.uploads], [tab.results, tab.uploads, *corpus_outputs], concurrency_limit=1)
    fetched = [tab.results, tab.urls, *corpus_outputs]
    tab.fetch.click(add_urls, [tab.urls], fetched, concurrency_limit=1)
    tab.remove.click(remove, [tab.to_remove], [tab.removed, *corpus_outputs], concurrency_limit=1)
    app.load(articles, None, corpus_outputs)


def browser_language(request: Any) -> str | None:
    """The first language of the browser's Accept-Language header ("id-ID,id;q=0.9" -> "id")."""
    header = str(getattr(request, "headers", {}).get("accept-language", "") if request is not None else "")
    first = header.split(",")[0].split(";")[0].strip().lower()
    return first.split("-")[0] or None if first and first != "*" else None


def _corpus_updates(corpus: Corpus) -> tuple[Any, Any, Any, Any, Any]:
    """The articles table, the removal choices (reset), the language and outlet filters' choices and the
    events timeline."""
    return (
        corpus.rows,
        gr.update(choices=corpus.sources, value=None),
        gr.update(choices=corpus.languages),
        gr.update(
            choices=corpus.outlets, info=None if corpus.outlets else "No article names its outlet yet."
        ),
        corpus.timeline,
    )


def _new_chat() -> tuple[Any, ...]:
    nothing = gr.update(value=None, interactive=False)
    return [], None, sources_html([], {}), "", nothing, nothing, ""


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
