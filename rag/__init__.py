"""Multilingual news question answering with verifiable citations.

``from rag import Assistant`` is the Python API; heavy modules are imported lazily so that
``import rag`` and ``rag --help`` stay instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.errors import RagError

if TYPE_CHECKING:
    from rag.api import Assistant

__all__ = ["Assistant", "RagError"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "Assistant":
        from rag.api import Assistant

        return Assistant
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
