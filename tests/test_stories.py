"""Story groups: copies and translations join one story, other reports of an event do not; grouping is
incremental, at 10k articles in a real Chroma store with stand-in vectors."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rag.index.stories import InMemoryDocuments, StoryPolicy, assign, coverage, document, signature

DIM = 64


def unit(rng, n=1):
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def noisy(vectors, rng, amount):
    return vectors + amount * unit(rng, len(vectors))


def test_signature_reads_numbers_in_any_script():
    assert signature("22 killed, more than 30 wounded; in 2016, 4.10.2016") == {"22", "30", "2016", "4102016"}
    assert signature("٢٢ قتيلا") == {"22"} and signature("२०१६ में") == {"2016"}
    assert signature("one 5 and 7") == frozenset()  # single digits say nothing


def test_translations_join_other_reports_and_unrelated_articles_do_not():
    rng = np.random.default_rng(0)
    story = unit(rng, 4)  # four passages of one story
    original = document("en", "en", story, "22 killed, 30 wounded in 2016")
    translation = document("ru", "ru", noisy(story, rng, 0.5), "22 погибших, 30 раненых, 2016")
    other_report = document("id", "id", np.vstack([story[:1], unit(rng, 3)]), "12 tewas, 2016")
    unrelated = document("de", "de", unit(rng, 3), "nichts")
    assert coverage(original, translation) > 0.6 > coverage(original, other_report)
    known = InMemoryDocuments()
    known.add(assign([original], known, StoryPolicy()))
    grouped = {
        d.article_id: d.story for d in assign([translation, other_report, unrelated], known, StoryPolicy())
    }
    assert grouped == {"ru": "en", "id": "id", "de": "de"}


def test_a_second_article_in_one_language_must_be_a_near_copy():
    rng = np.random.default_rng(1)
    story = unit(rng, 3)
    policy = StoryPolicy()
    known = InMemoryDocuments()
    known.add(assign([document("a", "en", story, "")], known, policy))
    rewrite = document("b", "en", noisy(story, rng, 0.8), "")  # close (coverage ~0.78), not a copy
    wire_copy = document("c", "en", noisy(story, rng, 0.05), "")
    found = {d.article_id: d.story for d in assign([rewrite, wire_copy], known, policy)}
    assert found == {"b": "b", "c": "a"}


def test_a_changed_article_is_grouped_afresh_not_with_its_old_self():
    rng = np.random.default_rng(2)
    old = unit(rng, 2)
    known = InMemoryDocuments()
    known.add(assign([document("a", "en", old, "")], known, StoryPolicy()))
    changed = document("a", "en", unit(rng, 2), "")
    assert assign([changed], known, StoryPolicy())[0].story == "a"  # its own story, not a copy of itself


class Counting:
    """The store, counting the documents that placing one more article reads."""

    def __init__(self, inner) -> None:
        self.inner, self.read = inner, 0

    def nearest(self, vectors, k):
        found = self.inner.nearest(vectors, k)
        self.read += sum(len(f) for f in found)
        return found

    def members(self, stories):
        return self._counted(self.inner.members(stories))

    def event_members(self, events):
        return self._counted(self.inner.event_members(events))

    def _counted(self, found):
        self.read += sum(len(m) for m in found.values())
        return found


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    """10k stand-in articles (5k stories of two translations) written as ingest writes them, with their
    stories and events."""
    from rag.index.events import assign_events, load_model
    from rag.index.store import Store
    from rag.ingest.chunking import Chunk
    from rag.ingest.corpus import Article, sha256_text

    rng = np.random.default_rng(3)
    store = Store(tmp_path_factory.mktemp("stories"), "big")
    policy, written, started = StoryPolicy(), {}, time.perf_counter()
    bases = unit(rng, 5000)
    for start in range(0, 10000, 1000):
        items, docs = [], []
        for n in range(start, start + 1000):
            story, copy = divmod(n, 2)
            text = f"story {story} copy {copy}"
            article = Article(f"s{story}-{copy}.txt", text, "t", ("en", "ru")[copy], sha256_text(text))
            vectors = noisy(bases[story : story + 1], rng, 0.3)
            chunk = Chunk(
                f"c{n}", article.source, article.article_id, 0, 0, len(text), text, article.language
            )
            items.append((article, [chunk], vectors))
            docs.append(document(article.article_id, article.language, vectors, text))
        store.replace_articles(items, "k", assign_events(assign(docs, store, policy), store, load_model()))
    written["seconds"] = time.perf_counter() - started
    return store, written


def test_ten_thousand_articles_grouped_incrementally(big_store):

    store, _ = big_store
    records = store.articles()
    assert len(records) == 10000
    by_story = {}
    for r in records.values():
        by_story.setdefault(r.story, set()).add(r.source.split("-")[0])
    assert len(by_story) == 5000 and all(len(names) == 1 for names in by_story.values())  # exact groups

    rng = np.random.default_rng(4)
    target = next(r for r in records.values() if r.source == "s42-0.txt")
    base = store.members({target.story})[target.story][0].chunks
    counting = Counting(store)
    grouped = assign([document("new", "de", noisy(base, rng, 0.2), "")], counting, StoryPolicy())
    assert grouped[0].story == target.story
    assert counting.read <= 2 * StoryPolicy().neighbours * 2  # a few dozen documents, not 10k
    assert store.articles()[target.source].story == target.story  # nothing else was rewritten


def test_ten_thousand_articles_placed_in_events_reading_only_a_neighbourhood(big_store):
    from rag.index.events import assign_events, load_model

    store, _ = big_store
    records = store.articles()
    by_story, events = {}, set()
    for r in records.values():
        by_story.setdefault(r.story, set()).add(r.event)
        events.add(r.event)
    assert all(len(e) == 1 for e in by_story.values())  # a story's copies report one event
    # random stand-in stories are unrelated, bar a few close by chance in this small space
    assert len(events) >= 4950

    rng = np.random.default_rng(5)
    target = next(r for r in records.values() if r.source == "s42-0.txt")
    base = store.event_members({target.event})[target.event][0].chunks
    counting = Counting(store)
    (placed,) = assign_events([document("new", "de", noisy(base, rng, 0.2), "")], counting, load_model())
    assert placed.event == target.event
    assert counting.read <= 2 * load_model().neighbours * 2
    assert store.articles()[target.source].event == target.event
