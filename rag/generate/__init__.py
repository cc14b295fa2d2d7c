"""Text generators behind one small protocol (generation stage): ``Generator`` and ``make_generator`` here;
llama.cpp in process in ``rag.generate.local``, any OpenAI-compatible chat server in ``rag.generate.server``.
"""

from rag.generate.base import Generator, Message
from rag.generate.factory import make_generator

__all__ = ["Generator", "Message", "make_generator"]
