"""One browser session of the chat page (pure): its turns (``Turn`` values: answers and comparisons, what
Export writes and Load chat restores), the follow-up history, the sources panel's entries per turn, and
the chat messages re-rendered from the turns. Also the ask options of the settings accordion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rag.answer.transcript import Turn
from rag.ui.compare_render import comparison_html, number
from rag.ui.render import answer_html, question_html

if TYPE_CHECKING:
    from rag.answer import Answer, Citation
    from rag.answer.compare import Comparison


class ChatSession:
    """Per-browser-session state: the chat's turns, the history for follow-ups and each turn's citations
    as the sources panel numbers them (turn ``n`` is ``chat[n - 1]``)."""

    def __init__(self) -> None:
        self.history: list[tuple[str, str]] = []
        self.turns: list[tuple[int, tuple[Citation, ...]]] = []
        self.chat: list[Turn] = []
        self.labels: dict[int, str] = {}  # the panel's heading of a turn, when not "Answer"
        self.folder: str | None = None  # where this session's exports are written (``ChatPage.exports``)

    def add(self, question: str, answer: Answer) -> int:
        turn = len(self.turns) + 1
        self.turns.append((turn, answer.citations))
        self.chat.append(Turn(question, answer=answer))
        if not answer.refused:
            self.history.append((question, answer.text))
        return turn

    def add_comparison(self, question: str, comparison: Comparison) -> int:
        """A comparison's turn; its panel entries are numbered across the whole comparison."""
        turn = len(self.turns) + 1
        self.turns.append((turn, number(comparison).citations))
        self.chat.append(Turn(question, comparison=comparison))
        self.labels[turn] = "Comparison"
        return turn

    @classmethod
    def of(cls, turns: Sequence[Turn]) -> ChatSession:
        """A session holding ``turns`` (a loaded chat); a turn with both an answer and a comparison
        becomes two."""
        session = cls()
        for t in turns:
            if t.answer is not None:
                session.add(t.question, t.answer)
            if t.comparison is not None:
                session.add_comparison(t.question, t.comparison)
        return session

    def messages(self) -> list[dict[str, str]]:
        """The chat's messages as the page shows them, rendered again from the turns."""
        out = []
        for turn, t in enumerate(self.chat, start=1):
            out.append({"role": "user", "content": question_html(t.question)})
            if t.answer is not None:
                out.append({"role": "assistant", "content": answer_html(t.answer, turn)})
            elif t.comparison is not None:
                out.append({"role": "assistant", "content": comparison_html(t.comparison, turn)})
        return out


def ask_options(
    generator: str,
    k: float,
    languages: Sequence[str] | None,
    outlets: Sequence[str] | None,
    since: str | None,
    until: str | None,
    gloss: bool,
) -> dict[str, Any]:
    """The keywords of ``Assistant.ask_stream`` / ``compare`` for the settings accordion's values (an
    empty filter is no filter; a bad date is the assistant's ``QueryError``)."""
    return {
        "generator": generator,
        "k": int(k),
        "gloss": bool(gloss),
        "language": list(languages or []) or None,
        "outlet": list(outlets or []) or None,
        "since": (since or "").strip() or None,
        "until": (until or "").strip() or None,
    }
