"""The Python API: ``Assistant`` ties settings, store, embedder and retriever together.

    from rag import Assistant
    assistant = Assistant.open()              # index in RAG_INDEX_DIR or .rag/
    report = assistant.ingest(["seeds/"])
    hits = assistant.search("Who did TASS quote?", k=5)
    answer = assistant.ask("What did Zakharova say?", history=[("Who is Zakharova?", "...")])

Heavy parts (the embedding model, the lexical index) load on first use, so listing or removing
sources never loads a model.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from rag.embed import Embedder, has_states, space_from
from rag.errors import AmbiguousSourceError, NotFoundError, QueryError, RagError
from rag.index.build import IngestOptions, IngestReport, ingest
from rag.index.events import Event, event_of, list_events
from rag.index.filters import FilterArgs, Filters, as_list
from rag.index.retrieve import Hit, Retriever
from rag.index.store import NO_FILTERS, ArticleRecord, Store
from rag.ingest.archive import Archive
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.answer import Answer, Answerer, Citation
    from rag.answer.compare import Comparison
    from rag.answer.glosses import Glosses
    from rag.answer.transcript import Turn
    from rag.index.reindex import ReindexReport
    from rag.index.watch import WatchRound

log = logging.getLogger(__name__)
History = Sequence[tuple[str, str]]


class Assistant:
    """Ingest articles and search them; one instance per index."""

    def __init__(
        self, settings: Settings, store: Store, embedder: Embedder | None = None, llm: Any = None
    ) -> None:
        self.settings = settings
        self.store = store
        self._embedder = embedder
        self._llm = llm  # a loaded Generator for settings.generator, when given (shared across assistants)
        self._lock = threading.Lock()
        self._answerers: dict[str, Answerer] = {}
        self._lazy_embedder = _LazyEmbedder(self)  # one for search and answers: they share the query memo
        self.retriever = Retriever(
            store,
            self._lazy_embedder,
            settings.retrieval,
            settings.rrf_k,
            settings.bm25_weight,
            cache_dir=store.index_dir / "bm25-cache",
        )

    @classmethod
    def open(
        cls,
        index_dir: str | os.PathLike[str] | None = None,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        llm: Any = None,
        **overrides: Any,
    ) -> Assistant:
        """Open (or create) the index at ``index_dir`` (default: RAG_INDEX_DIR or .rag/); ``embedder`` and
        ``llm`` (a loaded ``Generator``) may be passed in to share models."""
        settings = settings or Settings.from_env(index_dir=index_dir, **overrides)
        store = Store(settings.index_dir, settings.collection, settings.chroma_url, space_from(settings))
        return cls(settings, store, embedder, llm)

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                from rag.embed import embedder_from

                self._embedder = embedder_from(self.settings)
            return self._embedder

    def ingest(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: bool | None = None,
        *,
        feeds: Sequence[str] = (),
    ) -> IngestReport:
        """Add new articles, replace changed ones, skip unchanged and bad ones (with reasons). ``paths``:
        files, folders, web archives (``.warc.gz``) and ``http(s)://`` URLs of web pages; ``feeds``: RSS
        or Atom feeds whose entries' pages are read."""
        s = self.settings
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        progress = s.progress if progress is None else progress
        report = ingest(
            list(paths),
            self.store,
            lambda: self.embedder,
            IngestOptions.of(s),
            progress,
            feeds,
            self._fetcher,
        )
        if report.added or report.updated:
            self.retriever.invalidate()
        return report

    def ingest_feed(self, url: str, progress: bool | None = None) -> IngestReport:
        """Read the RSS or Atom feed at ``url`` and ingest the page each entry links to (the entry's date
        and the feed's name serve when a page has none)."""
        return self.ingest([], progress, feeds=[url])

    def watch(
        self,
        paths: Sequence[str | os.PathLike[str]] = (),
        feeds: Sequence[str] = (),
        *,
        every_minutes: float | None = None,
        rounds: int | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[WatchRound]:
        """Keep the index current with ``paths`` and ``feeds``: a round every ``every_minutes`` (default
        RAG_WATCH_MINUTES) ingests new and changed files and entries and removes the articles of files
        gone from the watched folders; yields each round's report until ``rounds`` are done or ``stop`` is
        set."""
        from rag.index.watch import watch

        minutes = self.settings.watch_minutes if every_minutes is None else every_minutes
        return watch(self, [str(p) for p in paths], list(feeds), minutes, rounds, stop)

    def _fetcher(self) -> Any:
        from rag.ingest.fetch import Fetcher, FetchPolicy

        return Fetcher(FetchPolicy.of(self.settings))

    def search(
        self, query: str, k: int | None = None, *, mode: str | None = None, **filters: Unpack[FilterArgs]
    ) -> list[Hit]:
        """Passages for ``query``, best first. Filters (``rag.index.filters``): ``language``, ``source``,
        ``outlet`` (a value or a list each), ``since`` / ``until`` (ISO dates, inclusive)."""
        return self.retriever.search(query, k or self.settings.top_k, mode, self.filters(**filters))

    def filters(self, **filters: Unpack[FilterArgs]) -> Filters:
        """The ``Filters`` value of the filter keywords, with sources resolved as ``resolve_source`` does;
        ``event`` keeps the reports of those events (``events()``)."""
        args: dict[str, Any] = dict(filters)
        events = as_list(args.pop("event", None))
        sources = [self.resolve_source(s) for s in as_list(args.get("source"))]
        if events:
            sources = self._event_sources(events, sources)
        return Filters.of(**(args | {"source": sources}))

    def _event_sources(self, events: Sequence[str], sources: Sequence[str]) -> list[str]:
        """The sources of ``events``, among ``sources`` when some are given."""
        records = self.store.articles().values()
        by_event: dict[str, list[str]] = {}
        for r in records:
            by_event.setdefault(event_of(r), []).append(r.source)
        unknown = [e for e in events if e not in by_event]
        if unknown:
            raise NotFoundError(f"no event {', '.join(map(repr, unknown))} in the index (see `rag events`)")
        members = [s for e in events for s in by_event[e]]
        kept = [s for s in members if not sources or s in sources]
        if not kept:
            raise QueryError("none of the given sources reports the given event(s)")
        return sorted(set(kept))

    def events(self, language: str | None = None) -> list[Event]:
        """The events of the index, newest first: each with its reports (the most central first), label
        (in ``language`` when a report is), languages, outlets and date range (``rag.index.events``)."""
        records = list(self.store.articles().values())
        return list_events(records, self.store.document_vectors(), language)

    def ask(
        self,
        question: str,
        history: History | None = None,
        *,
        generator: str | None = None,
        k: int | None = None,
        gloss: bool = False,
        **filters: Unpack[FilterArgs],
    ) -> Answer:
        """A short answer in the question's language whose every claim cites an exact source sentence,
        or a refusal (``answer.refused``) when the articles do not say; filters as ``search``. With
        ``gloss``, citations in another language carry a machine translation (``Citation.gloss``)."""
        answer = self._answerer(generator, k, self.filters(**filters)).ask(question, history or ())
        answer = self._with_stories(answer)
        return self.glosses(generator).add(answer) if gloss else answer

    def ask_stream(
        self,
        question: str,
        history: History | None = None,
        *,
        generator: str | None = None,
        k: int | None = None,
        gloss: bool = False,
        **filters: Unpack[FilterArgs],
    ) -> Iterator[str | Answer]:
        """Like ``ask``, but yields the LLM's raw text pieces as they come, then the verified ``Answer``."""
        pieces = self._answerer(generator, k, self.filters(**filters)).stream(question, history or ())
        glosses = self.glosses(generator) if gloss else None
        for piece in pieces:
            if isinstance(piece, str):
                yield piece
            else:
                piece = self._with_stories(piece)
                yield glosses.add(piece) if glosses else piece

    def _with_stories(self, answer: Answer) -> Answer:
        """``answer`` whose citations name the other articles of their story (``Citation.also_in``)."""
        return replace(answer, citations=self._stories_of(answer.citations))

    def _stories_of(self, citations: tuple[Citation, ...]) -> tuple[Citation, ...]:
        records = self.retriever.records()
        members: dict[str, list[str]] = {}
        for r in records.values():
            members.setdefault(r.story or r.article_id, []).append(r.source)

        def also(source: str) -> tuple[str, ...]:
            record = records.get(source)
            story = (record.story or record.article_id) if record else ""
            return tuple(sorted(m for m in members.get(story, []) if m != source))

        return tuple(replace(c, also_in=also(c.source)) for c in citations)

    def gloss(self, quote: str, language: str, *, generator: str | None = None) -> str | None:
        """A machine translation of ``quote`` into ``language`` (cached), or None when none can be made."""
        return self.glosses(generator).gloss(quote, language)

    def glosses(self, generator: str | None = None) -> Glosses:
        """The gloss maker of ``generator``'s LLM, or of the configured one when ``generator`` has none."""
        glosses = self._answerer(generator, None, NO_FILTERS).glosses
        if glosses.translate is None and generator not in (None, self.settings.generator):
            glosses = self._answerer(None, None, NO_FILTERS).glosses
        return glosses

    def warm(self, generator: str | None = None) -> None:
        """Load the embedding model and the ``generator`` kind's LLM now rather than on the first question."""
        self.embedder.embed_query("warm up")
        model = self.generator_for(generator)
        if model is not None and hasattr(model, "load"):
            model.load()

    def generator_for(self, kind: str | None = None) -> Any:
        """The (cached) generator of ``kind``: local, openai or extractive (None)."""
        return self._answerer(kind, None, NO_FILTERS).generator

    def _answerer(
        self, kind: str | None, k: int | None, filters: Filters, context_tokens: int | None = None
    ) -> Answerer:
        from rag.answer import Answerer
        from rag.generate import make_generator

        kind = kind or self.settings.generator
        with self._lock:
            base = self._answerers.get(kind)
            if base is None:
                if self._llm is not None and kind == self.settings.generator:
                    generator = self._llm
                else:
                    generator = make_generator(
                        self.settings, kind, [Answerer.system_message(self.settings.prompts_dir)]
                    )
                base = Answerer(self.search, self._lazy_embedder, generator, self.settings)
                self._answerers[kind] = base
        if k is None and not filters and context_tokens is None:
            return base
        top_k = k or self.settings.top_k

        def search(question: str, top: int) -> list[Hit]:
            return self.retriever.search(question, k or top, None, filters)

        return base.with_search(search, top_k, context_tokens)

    def compare(
        self,
        question: str,
        *,
        generator: str | None = None,
        k: int | None = None,
        gloss: bool = False,
        **filters: Unpack[FilterArgs],
    ) -> Comparison:
        """How each source (story group) that bears on ``question`` reports it, each answered on its own
        with verified citations (or listed as silent), then where they agree and differ, each point cited on
        both sides (``rag.answer.compare``); filters and ``gloss`` as ``search`` and ``ask``."""
        from rag.answer.compare import compare

        s, base = self.settings, self.filters(**filters)
        hits = self.retriever.search(question, max(4 * (k or s.top_k), 20), None, base)

        def answerer_for(sources: tuple[str, ...]) -> Answerer:
            # k (when given) is every search's depth; else answers read top_k passages, points compare_depth
            return self._answerer(generator, k, replace(base, sources=sources), s.compare_context_tokens)

        records = self.store.articles()
        result = compare(question, hits, records, answerer_for, s)
        result = result.map_citations(self._stories_of)
        return result.glossed(self.glosses(generator)) if gloss else result

    def export(self, turns: Sequence[Turn], format: str = "json") -> str:
        """A chat (``rag.answer.transcript.Turn`` values) as ``json`` (reloads with ``load_chat``) or
        ``markdown``."""
        from rag.answer.transcript import to_json, to_markdown

        if format not in ("json", "markdown"):
            raise QueryError(f"export format must be json or markdown, not {format!r}")
        return to_json(turns) if format == "json" else to_markdown(turns)

    def load_chat(self, text: str) -> list[Turn]:
        """The turns of an exported chat, each citation checked against this index: a quote that is no
        longer ``article_text(source)[start:end]`` is a ``QueryError`` naming it (nothing half-loaded)."""
        from rag.answer.transcript import from_json

        turns = from_json(text)
        for turn in turns:
            for citation in _citations(turn):
                try:
                    text_now = self.article_text(citation.source)
                except RagError:
                    raise QueryError(
                        f"the chat cites {citation.source}, which this index does not hold"
                    ) from None
                if text_now[citation.start : citation.end] != citation.quote:
                    raise QueryError(
                        f"the chat's quote of {citation.source} [{citation.start}:{citation.end}] is not in "
                        "the article as indexed now (changed since the export)"
                    )
        return turns

    def sources(self) -> list[ArticleRecord]:
        return sorted(self.store.articles().values(), key=lambda r: r.source)

    def article_text(self, source: str) -> str:
        return self.store.article_text(self.resolve_source(source))

    def remove(self, source: str) -> ArticleRecord:
        record = self.store.remove_article(self.resolve_source(source))
        Archive(self.settings.index_dir).remove(record.article_id)
        self.retriever.invalidate()
        return record

    @classmethod
    def reindex(
        cls,
        index_dir: str | os.PathLike[str] | None = None,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        progress: bool | None = None,
        **overrides: Any,
    ) -> ReindexReport:
        """Rebuild a broken store from the kept article texts and the uploads (nothing is deleted: the
        old store's files are moved aside). Works when ``Assistant.open`` fails on the broken store."""
        from rag.index.reindex import StoreAddress, reindex

        s = settings or Settings.from_env(index_dir=index_dir, **overrides)
        holder: list[Embedder] = [embedder] if embedder is not None else []

        def make_embedder() -> Embedder:
            if not holder:
                from rag.embed import embedder_from

                holder.append(embedder_from(s))
            return holder[0]

        address = StoreAddress(Path(s.index_dir), s.collection, s.chroma_url, space_from(s))
        return reindex(
            address, make_embedder, IngestOptions.of(s), s.progress if progress is None else progress
        )

    def resolve_source(self, source: str) -> str:
        """An ingested source named exactly, by normalised path, or by a unique file name."""
        known = self.store.articles()
        candidates = [source, os.path.normpath(source)]
        for candidate in candidates:
            if candidate in known:
                return candidate
        by_name = [s for s in known if Path(s).name == Path(source).name]
        if len(by_name) == 1:
            return by_name[0]
        if by_name:
            raise AmbiguousSourceError(f"{source!r} matches several articles: {', '.join(sorted(by_name))}")
        raise NotFoundError(f"no article {source!r} in the index (see `rag sources`)")


class _LazyEmbedder:
    """Loads the assistant's embedder on the first query (BM25-only searches never load it), and remembers
    the last query's vector and token states: answering reads the question that retrieval has just
    embedded (one encoder call gives both, when the embedder gives token states)."""

    def __init__(self, assistant: Assistant) -> None:
        self._assistant = assistant
        self.name = "lazy"
        self._last: tuple[str, Any, Any] | None = None

    @property
    def gives_states(self) -> bool:
        """Whether the embedder it will load gives token states (``rag.embed.has_states``), known without
        loading it: a given embedder is asked, a configured one is local unless it is a server."""
        given = self._assistant._embedder
        if given is not None:
            return has_states(given)
        return not self._assistant.settings.embedding_url

    def document_states(self, texts: Sequence[str]) -> Any:
        return self._assistant.embedder.document_states(texts)  # type: ignore[attr-defined]

    def query_states(self, text: str) -> Any:
        last = self._last
        if last is not None and last[0] == text and last[2] is not None:
            return last[1], last[2]
        vector, states = self._assistant.embedder.query_states(text)  # type: ignore[attr-defined]
        self._last = (text, vector, states)
        return vector, states

    def embed_documents(self, texts: Sequence[str]) -> Any:
        return self._assistant.embedder.embed_documents(texts)

    def embed_similar(self, texts: Sequence[str]) -> Any:
        from rag.embed import embed_similar

        return embed_similar(self._assistant.embedder, texts)

    def embed_query(self, text: str) -> Any:
        last = self._last
        if last is not None and last[0] == text:
            return last[1]
        if self.gives_states:
            return self.query_states(text)[0]
        vector = self._assistant.embedder.embed_query(text)
        self._last = (text, vector, None)
        return vector


def _citations(turn: Turn) -> list[Any]:
    found = list(turn.answer.citations) if turn.answer else []
    if turn.comparison:
        found += [c for v in turn.comparison.sources for c in v.citations]
        found += [c for p in (*turn.comparison.agree, *turn.comparison.differ) for c in p.citations]
    return found
