"""``rag bench extract``: how much of what the project keeps from a real news page is the article.

On ``../shared/bench/article-extraction`` (real pages, each with the text a reader calls the article),
with the benchmark's own metric: both texts split into ``\\w+`` tokens, 4-token shingles counted, per page
true/false positives and negatives normalised to sum 1, precision and recall averaged over pages, F1 from
the two means. Side by side: the project's ingest (a page saved as ``.html`` and read as ``rag ingest``
reads it), trafilatura's three settings, and the old parser that keeps every visible text. Also the date
and outlet ingest finds, against the values read off the pages by hand (``evalsets/extract-fields.jsonl``).
"""

from __future__ import annotations

import gzip
import json
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.ingest.corpus import PAGE_MODE

DEFAULT_PAGES = Path("../shared/bench/article-extraction")
FIELDS_FILE = Path(__file__).parent / "evalsets" / "extract-fields.jsonl"
_TOKEN = re.compile(r"\w+", re.UNICODE)
TRAFILATURA = {  # rag.ingest.web.MODES -> how the table names trafilatura with that balance
    "default": "trafilatura default",
    "precision": "trafilatura favor_precision",
    "recall": "trafilatura favor_recall",
}


def shingles(text: str, n: int = 4) -> Counter[str]:
    """The benchmark's shingles: ``n`` consecutive ``\\w+`` tokens (one shorter one for a short text)."""
    tokens = _TOKEN.findall(text or "")
    return Counter(" ".join(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens)


def page_scores(truth: str, found: str) -> tuple[float, float]:
    """Precision and recall of ``found`` against ``truth`` on one page, as the benchmark scores it."""
    want, got = shingles(truth), shingles(found)
    tp = sum((want & got).values())
    fp = sum((got - want).values())
    fn = sum((want - got).values())
    if fp == fn == 0:
        return 1.0, 1.0
    if tp == 0:
        return 0.0, 0.0
    return tp / (tp + fp), tp / (tp + fn)


def load_pages(root: Path) -> list[tuple[str, str, str, str]]:
    """(key, url, html, article text) of each page of the benchmark."""
    truth = json.loads((Path(root) / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key in sorted(truth):
        raw = gzip.decompress((Path(root) / "html" / f"{key}.html.gz").read_bytes())
        pages.append(
            (key, truth[key]["url"], raw.decode("utf-8", errors="replace"), truth[key]["articleBody"])
        )
    return pages


def extractors(folder: Path) -> dict[str, Callable[[str, str, str], str]]:
    """Name -> function of (key, url, html) giving the kept text."""
    from rag.ingest.corpus import _extract_html, load_file
    from rag.ingest.web import extract_page

    def ingest(key: str, url: str, html: str) -> str:
        path = folder / f"{key}.html"
        path.write_text(html, encoding="utf-8")
        item = load_file(path, 50 * 2**20)
        return getattr(item, "text", "")

    def trafilatura(mode: str) -> Callable[[str, str, str], str]:
        def run(key: str, url: str, html: str) -> str:
            page = extract_page(html, url, mode)
            return page.text if page else ""

        return run

    return {
        "ingest (this project)": ingest,
        **{label: trafilatura(mode) for mode, label in TRAFILATURA.items()},
        "old parser (every visible text)": lambda key, url, html: _extract_html(html)[0],
    }


def bench_extract(args: Any) -> dict[str, Any]:
    pages = load_pages(Path(args.pages))
    if args.limit:
        pages = pages[: args.limit]
    result: dict[str, Any] = {"bench": "extract", "pages": len(pages), "extractors": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, run in extractors(Path(tmp)).items():
            scores, empty, started, per_page = [], 0, time.perf_counter(), {}
            for key, url, html, truth in pages:
                found = run(key, url, html)
                empty += not found.strip()
                scores.append(page_scores(truth, found))
                per_page[key] = [round(scores[-1][0], 3), round(scores[-1][1], 3)]
            p = sum(s[0] for s in scores) / len(scores)
            r = sum(s[1] for s in scores) / len(scores)
            result["extractors"][name] = {
                "precision": round(p, 3),
                "recall": round(r, 3),
                "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0,
                "empty_pages": empty,
                "seconds_per_page": round((time.perf_counter() - started) / len(pages), 3),
                "per_page": per_page,  # page key -> [precision, recall]
            }
    # pages trafilatura, as ingest runs it, finds no article in (ingest keeps every visible text)
    result["fallback_pages"] = result["extractors"][TRAFILATURA[PAGE_MODE]]["empty_pages"]
    result["fields"] = fields_checked(pages)
    return result


def fields_checked(pages: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    """The date and outlet ingest finds against the values read off the pages by hand."""
    from rag.ingest.corpus import page_article

    if not FIELDS_FILE.exists():
        return {}
    truth = [
        json.loads(line) for line in FIELDS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    html = {key: (url, page) for key, url, page, _ in pages}
    rows = []
    for t in truth:
        if t["key"] not in html:
            continue
        url, page = html[t["key"]]
        article = page_article(page, f"{t['key']}.html", url)
        rows.append(
            {
                "key": t["key"],
                "published": t.get("published"),
                "found_published": getattr(article, "published", None),
                "published_from": getattr(article, "published_from", ""),
                "outlet": t.get("outlet"),
                "found_outlet": getattr(article, "outlet", None),
            }
        )
    dated = [r for r in rows if r["published"]]
    named = [r for r in rows if r["outlet"]]
    return {
        "checked_by_hand": len(rows),
        "published_right": sum(r["published"] == r["found_published"] for r in dated),
        "published_pages": len(dated),
        "published_within_a_day": sum(_days_apart(r["published"], r["found_published"]) <= 1 for r in dated),
        "published_by_rules": sum(not r["published_from"].startswith("web page") for r in rows),
        "outlet_right": sum(_same_outlet(r["outlet"], r["found_outlet"]) for r in named),
        "outlet_pages": len(named),
        "rows": rows,
    }


def _same_outlet(truth: str, found: str | None) -> bool:
    """The same publication: one name holds the other, case, spaces, "the" and a domain ending aside
    ("The Wall Street Journal" ~ "Wall Street Journal", "CBS Sports" ~ "CBSSports.com")."""

    def squash(name: str) -> str:
        name = re.sub(r"\.(com|org|net|co\.uk|co|uk|info)$", "", name.strip(), flags=re.I)
        return re.sub(r"\W+|^the\b", "", name.casefold())

    a, b = squash(truth), squash(found or "")
    return bool(a and b) and (a in b or b in a)


def _days_apart(a: str | None, b: str | None) -> int:
    import datetime as dt

    if not a or not b:
        return 10**6
    try:
        return abs((dt.date.fromisoformat(a) - dt.date.fromisoformat(b)).days)
    except ValueError:
        return 10**6


def extract_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Article text kept from {result['pages']} real news pages (the benchmark's 4-token shingles, "
        "per page, averaged):",
        "",
        "| extractor | F1 | precision | recall | pages with no text | s/page |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in result["extractors"].items():
        lines.append(
            f"| {name} | {r['f1']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} | {r['empty_pages']} | "
            f"{r['seconds_per_page']:.3f} |"
        )
    lines += [
        "",
        f"Pages where trafilatura finds no article (ingest keeps every visible text): "
        f"{result['fallback_pages']}",
    ]
    fields = result.get("fields") or {}
    if fields:
        lines += [
            "",
            f"Fields on {fields['checked_by_hand']} pages read by hand: publication date right "
            f"{fields['published_right']}/{fields['published_pages']} (within a day: "
            f"{fields['published_within_a_day']}; from the hand-written rules: "
            f"{fields['published_by_rules']}), "
            f"outlet right {fields['outlet_right']}/{fields['outlet_pages']}",
        ]
    return "\n".join(lines)


def extract_plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["extractors"])
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for k, metric in enumerate(("precision", "recall", "f1")):
        ax.barh(
            [i + k * 0.27 for i in range(len(names))],
            [result["extractors"][n][metric] for n in names],
            height=0.27,
            label=metric,
        )
    ax.set_yticks([i + 0.27 for i in range(len(names))], names)
    ax.set_xlim(0, 1)
    ax.legend(loc="lower right")
    ax.set_title(f"Article text from {result['pages']} real news pages")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
