"""The chat page in a real headless Chromium (Playwright), served by the real app over a real index with the
real embedding model and local LLM. Screenshots go to test-artifacts/ (RAG_TEST_ARTIFACTS)."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

from rag.evaluation.bench import CHROMIUM_ARGS
from tests.conftest import ROOT, SEEDS

CHROMIUM = os.environ.get("RAG_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("RAG_TEST_ARTIFACTS", ROOT / "test-artifacts"))
ANSWER_TIMEOUT_MS = 90_000
BOT = "#chat [data-testid='bot']"
XSS_ARTICLE = (
    "Port Veloria <script>window.__xss = 'title'</script> reopens its pier\n\n"
    "The harbour master of Port Veloria, Ilse Marquant, said the north pier reopened on Tuesday "
    "<img src=x onerror=\"window.__xss = 'img'\"> after eleven weeks of repairs. "
    "<script>window.__xss = 'script'</script> Fishing boats returned the same morning.\n"
)
FERRY_ARTICLE = (
    "New ferry for Lake Toba\n\n"
    "The ferry operator Danau Express said its new boat, the Sinar Samosir, carries 412 passengers. "
    "The Sinar Samosir was built in Batam and began service between Parapat and Tomok in March.\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def page_assistant(tmp_path_factory, embedder, llm):
    """A fresh index of the seeds (the page adds and removes articles), with a server URL nothing answers."""
    from rag import Assistant

    index = tmp_path_factory.mktemp("page-index")
    assistant = Assistant.open(
        index,
        embedder=embedder,
        llm=llm,
        progress=False,
        generator="local",
        llm_url="http://127.0.0.1:9/v1",
        llm_timeout=5,
        fetch_allow_private=True,  # the URL box fetches from a loopback server
        fetch_delay_s=0.0,
    )
    assert len(assistant.ingest([SEEDS]).added) == 2
    return assistant


@pytest.fixture(scope="module")
def server(page_assistant):
    from rag.ui import serve

    port = _free_port()
    app = serve(page_assistant, "127.0.0.1", port)
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `make test` installs it (apt-get install chromium), "
            "or set RAG_CHROMIUM"
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, server, request):
    """A fresh browser session on the chat page; records every request that leaves loopback."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.outside = []
    page.on(
        "request",
        lambda r: (
            page.outside.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else None
        ),
    )
    page.goto(server)
    page.wait_for_selector("#question textarea")
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def ask(page, question: str, button: str = "") -> None:
    """Type a question and press Enter (or click ``button``); wait for the verified answer, comparison,
    refusal or error."""
    count = page.locator(BOT).count()
    page.fill("#question textarea", question)
    page.click(button) if button else page.press("#question textarea", "Enter")
    page.wait_for_function(
        """([sel, n]) => {
             const bots = document.querySelectorAll(sel);
             if (bots.length <= n) return false;
             const last = bots[bots.length - 1];
             return last.querySelector('a.cite, .compare, .refusal, .error-msg') !== null;
           }""",
        arg=[BOT, count],
        timeout=ANSWER_TIMEOUT_MS,
    )


def last_answer(page):
    return page.locator(BOT).last


def choose_generator(page, label: str) -> None:
    page.click("#settings button, #settings .label-wrap")
    page.get_by_label(label).check()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def test_indonesian_question_streams_a_cited_answer_and_the_citation_opens_highlighted(page, page_assistant):
    # record what the last bot message shows while the answer streams
    page.evaluate("""() => {
        window.__seen = [];
        new MutationObserver(() => {
            const bots = document.querySelectorAll("#chat [data-testid='bot']");
            if (bots.length) window.__seen.push(bots[bots.length - 1].innerText.trim());
        }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")
    ask(page, "Siapa yang dikutip oleh TASS?")
    partial = {t for t in page.evaluate("window.__seen") if t and t != "…" and t.endswith("…")}
    assert len(partial) >= 2, "the answer did not stream in"
    answer = last_answer(page)
    assert answer.locator(".refusal, .error-msg").count() == 0
    link = answer.locator("a.cite").first
    link.click()
    active = page.locator("#sources-panel .src.active")
    assert active.count() == 1
    source, start, end = (active.get_attribute(a) for a in ("data-source", "data-start", "data-end"))
    highlighted = active.locator("mark").inner_text()
    quote = page_assistant.article_text(source)[int(start) : int(end)]
    assert " ".join(highlighted.split()) == " ".join(quote.split()) and len(quote) > 20
    assert page.evaluate("document.activeElement.classList.contains('src')")
    assert page.outside == [], f"the page reached beyond loopback: {page.outside}"


def test_keyboard_only_enter_sends_and_tab_reaches_the_sources(page):
    page.focus("#question textarea")
    page.keyboard.type("When was the humanitarian convoy attacked?")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{BOT} a.cite", timeout=ANSWER_TIMEOUT_MS)
    page.focus("#question textarea")
    for _ in range(40):  # backwards from the question box to the answer's citation marker
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.matches('a.cite')"):
            break
    else:
        pytest.fail("Shift+Tab never reached a citation marker")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.matches('#sources-panel .src.active')")
    page.focus("#question textarea")
    for _ in range(60):  # and forwards, Tab alone reaches the sources panel
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('#sources-panel .src')"):
            break
    else:
        pytest.fail("Tab never reached the sources panel")


def test_follow_up_refusal_and_new_chat(page):
    ask(page, "Who is Mark Toner?")
    ask(page, "What did he say about Lavrov's words?")
    follow_up = last_answer(page)
    assert follow_up.locator("a.cite").count() >= 1
    follow_up.locator("a.cite").first.click()
    assert "Toner" in page.locator("#sources-panel .src.active").inner_text()
    ask(page, "What is the population of Jakarta?")
    assert last_answer(page).locator(".refusal").count() == 1  # looks different from an answer
    assert page.locator(BOT).count() == 3
    page.click("#new-chat")
    page.wait_for_function(f'document.querySelectorAll("{BOT}").length === 0')
    assert "click a marker" in page.locator("#sources-panel").inner_text()


def test_upload_ask_and_remove(page, page_assistant):
    open_tab(page, "Articles")
    page.wait_for_selector("#articles")
    upload = ARTIFACTS / "uploads" / "lake toba ferry.txt"
    upload.parent.mkdir(parents=True, exist_ok=True)
    upload.write_text(FERRY_ARTICLE, encoding="utf-8")
    page.set_input_files("#upload input[type=file]", str(upload))
    page.click("#add")
    page.wait_for_function("document.querySelector('#results').innerText.includes('added')", timeout=60_000)
    assert "lake_toba_ferry.txt" in page.locator("#articles").inner_text()
    stored = [r for r in page_assistant.sources() if r.source.endswith("lake_toba_ferry.txt")]
    assert len(stored) == 1 and Path(stored[0].source).parent.name == "uploads"

    open_tab(page, "Chat")
    ask(page, "How many passengers does the Sinar Samosir carry?")
    answer = last_answer(page)
    assert "412" in answer.inner_text()
    answer.locator("a.cite").first.click()
    assert "lake_toba_ferry.txt" in page.locator("#sources-panel .src.active").get_attribute("data-source")

    open_tab(page, "Articles")
    page.locator("#remove-choice input").fill("lake_toba")
    page.get_by_role("option", name=stored[0].source).click()
    page.click("#remove")
    page.wait_for_function("document.querySelector('#removed').innerText.includes('Removed')")
    assert "lake_toba_ferry.txt" not in page.locator("#articles").inner_text()
    assert not Path(stored[0].source).exists()
    assert all(not r.source.endswith("lake_toba_ferry.txt") for r in page_assistant.sources())


def test_a_web_page_added_by_url_is_listed_and_a_bad_url_gets_its_reason(page, page_assistant):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    paragraphs = "".join(f"<p>{line}</p>" for line in FERRY_ARTICLE.splitlines() if line.strip())
    html = (
        "<html><head><title>Ferry</title></head><body><nav>Home | World | Sport</nav>"
        f"<article><h1>A new ferry on Lake Toba</h1>{paragraphs}</article>"
        "<footer>Cookie settings. All rights reserved.</footer></body></html>"
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            found = self.path == "/ferry.html"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(html if found else b"")

        def log_message(self, *args):
            pass

    site = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{site.server_address[1]}/ferry.html"
    try:
        open_tab(page, "Articles")
        page.wait_for_selector("#articles")
        page.fill("#urls textarea", f"{url}\nnot-a-url")
        page.click("#add-urls")
        page.wait_for_function(
            "document.querySelector('#results').innerText.includes('added')", timeout=60_000
        )
        results = page.locator("#results").inner_text()
        assert "not an http(s) URL" in results
        assert url in page.locator("#articles").inner_text()
        assert page.locator("#urls textarea").input_value() == ""
        (record,) = [r for r in page_assistant.sources() if r.source == url]
        text = page_assistant.article_text(url)
        assert "412" in text and "Cookie settings" not in text and "Home | World" not in text
        assert record.title == "A new ferry on Lake Toba"
    finally:
        site.shutdown()
        site.server_close()
        if any(r.source == url for r in page_assistant.sources()):
            page_assistant.remove(url)


def test_article_with_script_and_img_renders_as_text(page, page_assistant, tmp_path):
    hostile = tmp_path / "veloria.txt"
    hostile.write_text(XSS_ARTICLE, encoding="utf-8")
    page_assistant.ingest([hostile])
    try:
        page.reload()
        page.wait_for_selector("#question textarea")
        choose_generator(page, "extractive (no LLM)")
        ask(page, "When did the north pier of Port Veloria reopen? <img src=x onerror=\"window.__xss='q'\">")
        answer = last_answer(page)
        assert answer.locator("a.cite").count() >= 1
        answer.locator("a.cite").first.click()
        panel = page.locator("#sources-panel")
        assert "<img src=x onerror=" in panel.inner_text()  # shown as text
        assert panel.locator("img, script").count() == 0
        open_tab(page, "Articles")
        assert "<script>" in page.locator("#articles").inner_text()
        assert page.evaluate("window.__xss") is None
    finally:
        page_assistant.remove(str(hostile))


def test_unreachable_server_is_a_plain_message(page):
    choose_generator(page, "server (OpenAI-compatible)")
    ask(
        page, "What did Maria Zakharova say about Mark Toner's statement?"
    )  # relevant enough to ask the server
    text = last_answer(page).locator(".error-msg").inner_text()
    assert "RAG_LLM_URL" in text and "Traceback" not in page.content()


def test_two_sessions_keep_separate_chats(browser, server):
    pages = []
    for question in ("Who did TASS quote?", "Что сказал Марк Тонер о Лаврове?"):
        context = browser.new_context()
        p = context.new_page()
        p.goto(server)
        p.wait_for_selector("#question textarea")
        choose_generator(p, "extractive (no LLM)")
        pages.append((p, question))
    for p, question in pages:  # both questions in flight together
        p.fill("#question textarea", question)
        p.press("#question textarea", "Enter")
    for p, question in pages:
        p.wait_for_selector(f"{BOT} a.cite, {BOT} .refusal", timeout=ANSWER_TIMEOUT_MS)
        users = p.locator("#chat [data-testid='user']").all_inner_texts()
        assert [u.strip() for u in users] == [question]
        p.context.close()


def test_language_filter_and_top_k_settings_apply(page):
    choose_generator(page, "extractive (no LLM)")
    page.locator("#languages").get_by_label("en", exact=True).check()
    page.locator("#top-k input[type=number]").fill("2")
    ask(
        page, "What did Maria Zakharova say about Mark Toner's statement?"
    )  # unfiltered, both articles hold it
    sources = page.locator("#sources-panel .turn.shown .src")
    assert sources.count() >= 1
    assert {s.get_attribute("data-source").rsplit("/", 1)[-1] for s in sources.all()} == {
        "002_b2e3a6e9fb9339f0.txt"
    }


ID_SEED, EN_SEED = "000_1b03c4f4f3f24ebf.txt", "002_b2e3a6e9fb9339f0.txt"
TALKS = "Why did the US stop the talks with Russia?"


def download(page, button: str, folder: Path) -> Path:
    with page.expect_download() as started:
        page.click(button)
    path = folder / started.value.suggested_filename
    started.value.save_as(path)
    return path


def load_chat(page, path) -> None:
    with page.expect_file_chooser() as chooser:
        page.click("#load-chat")
    chooser.value.set_files(str(path))


def assert_links_open_panel_entries(page, message) -> int:
    """Every citation link of ``message`` opens (highlights) its own entry of the sources panel."""
    links = message.locator("a.cite")
    for i in range(links.count()):
        href = links.nth(i).get_attribute("href")
        links.nth(i).click()
        active = page.locator("#sources-panel .src.active")
        assert active.count() == 1 and "#" + active.get_attribute("id") == href
    return links.count()


def test_compare_sources_shows_both_seed_articles_side_by_side_with_working_links(page):
    choose_generator(page, "extractive (no LLM)")
    ask(page, TALKS, "#compare")
    message = last_answer(page)
    assert message.locator(".error-msg, .refusal").count() == 0
    cards = message.locator(".cmp-source")
    assert {ID_SEED, EN_SEED} <= {f.rsplit("/", 1)[-1] for f in cards.locator(".cmp-file").all_inner_texts()}
    assert "2016-10-04" in cards.filter(has_text=EN_SEED).locator(".cmp-head").inner_text()
    assert message.locator(".cmp-points h4").all_inner_texts() == ["Agree", "Differ"]
    assert assert_links_open_panel_entries(page, message) >= 2
    cited = [s.get_attribute("data-source") for s in page.locator(".turn.shown .src").all()]
    assert {ID_SEED, EN_SEED} <= {c.rsplit("/", 1)[-1] for c in cited}


def test_articles_tab_shows_dates_outlets_and_stories(page):
    open_tab(page, "Articles")
    page.wait_for_function("document.querySelector('#articles').innerText.includes('002_b2e3a6e9fb9339f0')")
    table = page.locator("#articles").inner_text()
    assert all(h in table for h in ("File", "Title", "Language", "Published", "Outlet", "Story"))
    before, english = table.split(EN_SEED, 1)  # the Indonesian seed's row comes first, undated
    assert "2016-10-04" in english and "2016-10-04" not in before
    assert "Event" in table
    # the seeds are one event: one timeline row, the dated English report a dot, the Indonesian undated
    page.wait_for_selector("#timeline svg")
    assert page.locator("#timeline svg circle").count() == 1
    assert "1 undated" in page.locator("#timeline").inner_text()
    # the event is labelled in the browser's language (en-US here) by its English report
    assert "The United States stopped" in page.locator("#timeline").inner_text()


def test_since_filter_after_every_article_answers_with_a_refusal(page):
    choose_generator(page, "extractive (no LLM)")  # opens the settings
    page.get_by_label("Published since").fill("2017-01-01")
    ask(page, TALKS)
    assert last_answer(page).locator(".refusal").count() == 1 and page.locator(f"{BOT} a.cite").count() == 0
    assert "No sources" in page.locator("#sources-panel .turn.shown").inner_text()
    page.get_by_label("Published since").fill("2017-13-01")
    ask(page, TALKS)
    assert "since must be a date" in last_answer(page).locator(".error-msg").inner_text()
    assert "Traceback" not in page.content()


def test_export_json_then_load_it_in_a_fresh_session_restores_the_chat(page, browser, server, tmp_path):
    choose_generator(page, "extractive (no LLM)")
    ask(page, "Who did TASS quote?")
    ask(page, TALKS, "#compare")
    exported = download(page, "#export-json", tmp_path)
    record = json.loads(exported.read_text(encoding="utf-8"))  # a chat.json of both turns
    assert exported.suffix == ".json" and record["format"] == "rag-chat"
    assert [("answer" in t, "comparison" in t) for t in record["turns"]] == [(True, False), (False, True)]
    markdown = download(page, "#export-md", tmp_path).read_text(encoding="utf-8")
    assert markdown.startswith("# Chat with the articles") and TALKS in markdown
    messages = f"#chat [data-testid='user'], {BOT}"
    before = page.locator(messages).all_inner_texts()

    fresh = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    try:
        fresh.goto(server)
        fresh.wait_for_selector("#question textarea")
        load_chat(fresh, exported)
        fresh.wait_for_function("document.querySelector('#chat-notice').innerText.includes('Loaded 2')")
        assert fresh.locator(messages).all_inner_texts() == before and len(before) == 4
        assert TALKS in fresh.locator("#chat [data-testid='user']").last.inner_text()
        assert fresh.locator(f"{BOT} .compare .cmp-source").count() >= 2
        for message in fresh.locator(BOT).all():
            assert assert_links_open_panel_entries(fresh, message) >= 1
        assert not fresh.locator("#export-json").is_disabled()  # the loaded chat exports again
    finally:
        fresh.context.close()


def test_loading_a_file_that_is_not_a_chat_shows_an_error_and_keeps_the_chat(page, tmp_path):
    choose_generator(page, "extractive (no LLM)")
    ask(page, "Who did TASS quote?")
    before = last_answer(page).inner_html()
    other = tmp_path / "settings.json"
    other.write_text('{"theme": "dark", "turns": []}', encoding="utf-8")
    load_chat(page, other)
    page.locator("#chat-notice .error-msg").wait_for(timeout=30_000)
    notice = page.locator("#chat-notice").inner_text()
    assert "settings.json" in notice and "not a chat export" in notice
    assert page.locator(BOT).count() == 1 and last_answer(page).inner_html() == before
    assert assert_links_open_panel_entries(page, last_answer(page)) >= 1
