"""The answer stage: from retrieved passages to an answer whose every claim cites an exact span.

``Answerer`` decides to answer or refuse, chooses the sentences, asks the generator and verifies each claim;
``Answer`` and ``Citation`` are its values; ``phrases`` holds the fixed phrases in every language and
``prompts`` the templates shipped in ``prompts/``.
"""

from rag.answer.answerer import Answer, Answerer, Citation
from rag.answer.language import answer_language, question_language
from rag.answer.mixing import language_share

__all__ = ["Answer", "Answerer", "Citation", "answer_language", "language_share", "question_language"]
