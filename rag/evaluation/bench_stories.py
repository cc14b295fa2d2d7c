"""``rag bench stories``: story grouping on XQuAD-R's parallel paragraphs, and its throughput.

Every paragraph of every language is one article (chunked and embedded as ingest does); the same paragraph
in its 11 languages is one story, different paragraphs of one Wikipedia article are not. Articles arrive in
a random order (``--orders`` of them) and are grouped by the shipped ``rag.index.stories.assign``; pairwise
precision and recall are reported on the dev articles (0-23, where the threshold was chosen) and on the
held-out test articles (24-47), with the threshold's curve on both.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy and the index load when the bench runs, not when `rag --help` builds the parser
    from rag.index.stories import Document, StoryPolicy

CURVE = tuple(round(0.40 + 0.02 * i, 2) for i in range(14))


def paragraphs(root: Path) -> list[tuple[str, int, int, str]]:
    """(language, article, paragraph, text) of every XQuAD-R paragraph."""
    rows: list[tuple[str, int, int, str]] = []
    for path in sorted(Path(root).glob("*.json")):
        for a, article in enumerate(json.loads(path.read_text(encoding="utf-8"))["data"]):
            rows.extend((path.stem, a, p, para["context"]) for p, para in enumerate(article["paragraphs"]))
    return rows


def embed(rows: list[tuple[str, int, int, str]], settings: Any) -> list[Document]:
    import numpy as np

    from rag.embed import embedder_from
    from rag.index.build import IngestOptions
    from rag.index.stories import document
    from rag.ingest.corpus import Article, sha256_text

    options, embedder = IngestOptions.of(settings), embedder_from(settings)
    chunked = []
    for lang, a, p, text in rows:
        article = Article(f"{lang}-{a:02d}-{p}.txt", text, "", lang, sha256_text(text))
        chunked.append((article, [c.text for c in options.chunks(article)]))
    vectors = np.asarray(embedder.embed_documents([t for _, texts in chunked for t in texts]), np.float32)
    docs, offset = [], 0
    for article, texts in chunked:
        docs.append(
            document(article.source, article.language, vectors[offset : offset + len(texts)], article.text)
        )
        offset += len(texts)
    return docs


def grouped(docs: list[Document], policy: StoryPolicy, seed: int) -> tuple[dict[str, str], float]:
    """Story of every document when they arrive in a random order, and seconds spent grouping."""
    import numpy as np

    from rag.index.stories import InMemoryDocuments, assign

    order = np.random.default_rng(seed).permutation(len(docs))
    known, stories, spent = InMemoryDocuments(), {}, 0.0
    for i in order:
        started = time.perf_counter()
        done = assign([docs[i]], known, policy)
        spent += time.perf_counter() - started
        known.add(done)
        stories[done[0].article_id] = done[0].story
    return stories, spent


def pairwise(stories: dict[str, str], truth: dict[str, str]) -> tuple[float, float]:
    import numpy as np

    names = sorted(stories)
    got = np.array([stories[n] for n in names])
    gold = np.array([truth[n] for n in names])
    upper = np.triu_indices(len(names), 1)
    same_got, same_gold = (got[:, None] == got[None, :])[upper], (gold[:, None] == gold[None, :])[upper]
    both = int((same_got & same_gold).sum())
    return both / max(int(same_got.sum()), 1), both / max(int(same_gold.sum()), 1)


def bench_stories(args: Any) -> dict[str, Any]:
    from rag.index.build import IngestOptions
    from rag.settings import Settings

    settings = Settings.from_env()
    rows = [r for r in paragraphs(Path(args.xquad)) if r[1] < args.articles]
    started = time.perf_counter()
    docs = embed(rows, settings)
    embed_s = time.perf_counter() - started
    truth = {d.article_id: f"{a}-{p}" for d, (_, a, p, _) in zip(docs, rows)}
    split = {d.article_id: "dev" if a < 24 else "test" for d, (_, a, _, _) in zip(docs, rows)}
    policy = IngestOptions.of(settings).stories
    result: dict[str, Any] = {
        "policy": policy.__dict__,
        "articles": len(docs),
        "embed_seconds": round(embed_s, 1),
    }
    for name in ("dev", "test"):
        part = [d for d in docs if split[d.article_id] == name]
        if not part:
            continue
        runs = [grouped(part, policy, seed) for seed in range(args.orders)]
        scores = [pairwise(stories, truth) for stories, _ in runs]
        curve = []
        for threshold in CURVE:
            stories, _ = grouped(part, replace(policy, threshold=threshold), 0)
            curve.append((threshold, *pairwise(stories, truth)))
        result[name] = {
            "articles": len(part),
            "precision": round(sum(s[0] for s in scores) / len(scores), 4),
            "recall": round(sum(s[1] for s in scores) / len(scores), 4),
            "worst": [round(min(min(s) for s in scores), 4)],
            "articles_per_second": round(len(part) * len(runs) / max(sum(t for _, t in runs), 1e-9), 1),
            "curve": [{"threshold": t, "precision": round(p, 4), "recall": round(r, 4)} for t, p, r in curve],
        }
    if args.scale:
        result["scale"] = at_scale(args.scale)
    return result


def at_scale(articles: int, batch: int = 500, dim: int = 768) -> dict[str, Any]:
    """Grouping with the real Chroma store: ``articles`` stand-in articles (two copies per story, random
    vectors) written as ingest writes them; articles/s, and the seconds to group one more."""
    import numpy as np

    from rag.index.store import Store
    from rag.index.stories import StoryPolicy, assign, document
    from rag.ingest.chunking import Chunk
    from rag.ingest.corpus import Article, sha256_text

    rng = np.random.default_rng(0)
    bases = rng.normal(size=(articles // 2 + 1, dim)).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder), "scale")
        grouping = 0.0
        started = time.perf_counter()
        for first in range(0, articles, batch):
            items, docs = [], []
            for n in range(first, min(first + batch, articles)):
                text = f"stand-in article {n}"
                article = Article(f"a{n}.txt", text, "", ("en", "de")[n % 2], sha256_text(text))
                vectors = bases[n // 2 : n // 2 + 1] + 0.3 * rng.normal(size=(1, dim)).astype(np.float32)
                chunk = Chunk(
                    f"c{n}", article.source, article.article_id, 0, 0, len(text), text, article.language
                )
                items.append((article, [chunk], vectors))
                docs.append(document(article.article_id, article.language, vectors, text))
            began = time.perf_counter()
            done = assign(docs, store, StoryPolicy())
            grouping += time.perf_counter() - began
            store.replace_articles(items, "scale", done)
        total = time.perf_counter() - started
        began = time.perf_counter()
        assign([document("one-more", "ru", bases[:1], "")], store, StoryPolicy())
        one = time.perf_counter() - began
    return {
        "articles": articles,
        "ingest_articles_per_second": round(articles / total, 1),
        "grouping_articles_per_second": round(articles / max(grouping, 1e-9), 1),
        "one_more_seconds": round(one, 3),
    }


def stories_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Story groups on XQuAD-R ({result['articles']} paragraph articles; policy {result['policy']}):",
        "",
        "| split | articles | pairwise precision | pairwise recall | grouping articles/s |",
        "|---|---|---|---|---|",
    ]
    for name in ("dev", "test"):
        if name in result:
            r = result[name]
            lines.append(
                f"| {name} | {r['articles']} | {r['precision']:.3f} | {r['recall']:.3f} | "
                f"{r['articles_per_second']:.0f} |"
            )
    if result.get("scale"):
        sc = result["scale"]
        lines += [
            "",
            f"At {sc['articles']} stand-in articles in a real Chroma store: grouping "
            f"{sc['grouping_articles_per_second']:.0f} articles/s, written with their chunks "
            f"{sc['ingest_articles_per_second']:.0f} articles/s; one more article grouped in "
            f"{sc['one_more_seconds']:.3f} s",
        ]
    for name in ("dev", "test"):
        if name in result:
            curve = " · ".join(
                f"{c['threshold']:.2f} {c['precision']:.3f}/{c['recall']:.3f}" for c in result[name]["curve"]
            )
            lines += ["", f"Threshold curve, {name} (precision/recall): {curve}"]
    return "\n".join(lines)


def stories_plot(result: dict[str, Any], path: Path) -> None:
    from rag.evaluation.report import figure

    with figure(path, 1, 1, figsize=(6, 4)) as ax:
        for name in ("dev", "test"):
            if name in result:
                curve = result[name]["curve"]
                xs = [c["threshold"] for c in curve]
                ax.plot(xs, [c["precision"] for c in curve], label=f"{name} precision")
                ax.plot(xs, [c["recall"] for c in curve], "--", label=f"{name} recall")
        ax.axvline(result["policy"]["threshold"], color="grey", lw=0.8)
        ax.set_xlabel("threshold (RAG_STORY_THRESHOLD)")
        ax.set_ylim(0.5, 1.01)
        ax.legend()
