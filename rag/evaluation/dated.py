"""The dated-reports benchmark (``rag eval dates``): questions that only publication dates can answer.

A generated multilingual corpus: each event (a flood, a factory fire, a ferry sinking, in one of several
towns) is reported twice, by two outlets in two languages, days apart; the first report gives an early
death toll, the later one a higher, revised toll. Each event asks two questions in a third language:
the toll *first* reported and the *latest* one. Both reports are relevant to both questions, so only the
reports' dates (front matter ``date:``, which ingest reads into ``published``) tell which one answers.

A question counts as correct in the ``rag eval`` sense when the answer states the right toll and cites
that report's sentence; ``chose_right`` is stricter: the right toll and not the other one (an answer that
lists both reports' tolls has not chosen).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "es", "de", "fr", "id", "ru")
TOWNS = ("Valdoria", "Kestrel Bay", "Marnholt", "Ostrava Nova")
EVENTS = ("flood", "fire", "ferry")

# the event, as each language's frames below need it
EVENT_PHRASES = {
    "en": {"flood": "the flood", "fire": "the factory fire", "ferry": "the ferry sinking"},
    "es": {"flood": "la inundación", "fire": "el incendio de la fábrica", "ferry": "el naufragio del ferry"},
    "de": {"flood": "dem Hochwasser", "fire": "dem Fabrikbrand", "ferry": "dem Untergang der Fähre"},
    "fr": {"flood": "l'inondation", "fire": "l'incendie de l'usine", "ferry": "le naufrage du ferry"},
    "id": {"flood": "banjir", "fire": "kebakaran pabrik", "ferry": "tenggelamnya kapal feri"},
    "ru": {"flood": "наводнения", "fire": "пожара на фабрике", "ferry": "крушения парома"},
}

# early report, later report (revised toll), filler, question about the first toll, about the latest
FRAMES = {
    "en": (
        "At least {n} people died in {ev} in {town}, local officials said.",
        "The death toll from {ev} in {town} has risen to {n}, local officials said.",
        "Rescue teams were still searching the area and several roads remained closed.",
        "How many deaths were first reported after {ev} in {town}?",
        "What is the latest reported death toll from {ev} in {town}?",
    ),
    "es": (
        "Al menos {n} personas murieron en {ev} en {town}, según las autoridades locales.",
        "El número de muertos por {ev} en {town} ha aumentado a {n}, según las autoridades locales.",
        "Los equipos de rescate seguían buscando en la zona y varias carreteras seguían cortadas.",
        "¿Cuántas muertes se informaron primero tras {ev} en {town}?",
        "¿Cuál es la cifra de muertos más reciente por {ev} en {town}?",
    ),
    "de": (
        "Mindestens {n} Menschen sind bei {ev} in {town} ums Leben gekommen, teilten die Behörden mit.",
        "Die Zahl der Toten bei {ev} in {town} ist auf {n} gestiegen, teilten die Behörden mit.",
        "Rettungsteams suchten weiter in der Gegend, mehrere Straßen blieben gesperrt.",
        "Wie viele Tote wurden nach {ev} in {town} zuerst gemeldet?",
        "Wie lautet die neueste gemeldete Zahl der Toten bei {ev} in {town}?",
    ),
    "fr": (
        "Au moins {n} personnes sont mortes dans {ev} à {town}, selon les autorités locales.",
        "Le bilan de {ev} à {town} s'est alourdi à {n} morts, selon les autorités locales.",
        "Les équipes de secours fouillaient toujours la zone et plusieurs routes restaient fermées.",
        "Combien de morts ont d'abord été annoncés après {ev} à {town} ?",
        "Quel est le dernier bilan annoncé de {ev} à {town} ?",
    ),
    "id": (
        "Sedikitnya {n} orang tewas dalam {ev} di {town}, kata pejabat setempat.",
        "Jumlah korban tewas akibat {ev} di {town} meningkat menjadi {n} orang, kata pejabat setempat.",
        "Tim penyelamat masih melakukan pencarian di daerah itu dan beberapa jalan masih ditutup.",
        "Berapa jumlah korban tewas yang pertama kali dilaporkan setelah {ev} di {town}?",
        "Berapa jumlah korban tewas terbaru akibat {ev} di {town}?",
    ),
    "ru": (
        "По данным местных властей, в результате {ev} в {town} погибли не менее {n} человек.",
        "Число погибших в результате {ev} в {town} возросло до {n}, сообщили местные власти.",
        "Спасатели продолжали поиски в этом районе, несколько дорог оставались перекрытыми.",
        "Сколько погибших сначала сообщили после {ev} в {town}?",
        "Каково последнее сообщённое число погибших в результате {ev} в {town}?",
    ),
}
OUTLETS = (
    "Harbour Herald",
    "Diario del Valle",
    "Nordkurier Online",
    "Le Courrier",
    "Kabar Kota",
    "Вести Края",
)
START = dt.date(2024, 3, 4)


def build_dated(out: Path) -> tuple[Path, Path, dict[str, dict[str, str]]]:
    """Write the corpus and the data set under ``out``: (corpus folder, data set file, for each question
    id its right and wrong toll)."""
    corpus = Path(out) / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    tolls: dict[str, dict[str, str]] = {}
    for k, (town, event) in enumerate((t, e) for t in TOWNS for e in EVENTS):
        first_lang, later_lang, asked = (LANGUAGES[(k + i) % len(LANGUAGES)] for i in (0, 2, 4))
        early, late = 41 + 3 * k, 70 + 4 * k  # never a day, a month or each other
        day = START + dt.timedelta(days=9 * k)
        reports: list[tuple[str, str, str]] = []
        for n, (lang, toll, when) in enumerate(
            ((first_lang, early, day), (later_lang, late, day + dt.timedelta(days=3)))
        ):
            frames = FRAMES[lang]
            sentence = frames[n].format(n=toll, ev=EVENT_PHRASES[lang][event], town=town)
            name = f"{k:02d}-{event}-{n}-{lang}.txt"
            outlet = OUTLETS[(k + 3 * n) % len(OUTLETS)]
            text = f"---\ndate: {when.isoformat()}\noutlet: {outlet}\n---\n{town}\n\n{sentence} {frames[2]}\n"
            (corpus / name).write_text(text, encoding="utf-8")
            reports.append((name, sentence, str(toll)))
        for which, (right, wrong) in (("first", (0, 1)), ("latest", (1, 0))):
            qid = f"{k:02d}-{event}-{which}"
            question = FRAMES[asked][3 if which == "first" else 4].format(
                ev=EVENT_PHRASES[asked][event], town=town
            )
            name, quote, said = reports[right]
            rows.append(
                {
                    "id": qid,
                    "question": question,
                    "lang": asked,
                    "answer_any": [said],
                    "evidence": [{"source": name, "quote": quote}],
                    "answerable": True,
                }
            )
            tolls[qid] = {"right": said, "wrong": reports[wrong][2]}
    data = Path(out) / "dates.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return corpus, data, tolls


def chose_right(report: dict[str, Any], tolls: dict[str, dict[str, str]]) -> dict[str, float]:
    """Per kind of question (and in all), the share whose answer states the right toll and not the other
    report's (a refusal has not chosen)."""

    def says(text: str, number: str) -> bool:
        return re.search(rf"(?<!\d){number}(?!\d)", text) is not None

    def right(q: dict[str, Any]) -> bool:
        answer, toll = q["answer"] or "", tolls[q["id"]]
        return not q["refused"] and says(answer, toll["right"]) and not says(answer, toll["wrong"])

    rows = [q for q in report["questions"] if q["id"] in tolls]
    shares = {}
    for kind in ("all", "first", "latest"):
        picked = [right(q) for q in rows if kind == "all" or q["id"].endswith(kind)]
        shares[f"chose_right_{kind}"] = round(sum(picked) / len(picked), 3) if picked else 0.0
    return {"questions": len(rows), **shares}


def evaluate_dated(
    generator: str | None = None, out: str | Path | None = None, compare: Sequence[str] = ()
) -> dict[str, Any]:
    """Build the dated corpus in a temporary folder and run ``rag eval`` on it; each report's metrics
    gain ``chose_right_all`` / ``_first`` / ``_latest`` (``chose_right``)."""
    import tempfile

    from rag.evaluation.run import evaluate

    with tempfile.TemporaryDirectory(prefix="rag-dates-") as tmp:
        corpus, dataset, tolls = build_dated(Path(tmp))
        result = evaluate(dataset, corpus, None, False, generator, None, compare)
        reports = result if compare else {"default": result}
        for report in reports.values():
            report["metrics"].update(chose_right(report, tolls))
        if out:
            from rag.evaluation.run import _write

            _write(reports, Path(out), bool(compare))
    return result
