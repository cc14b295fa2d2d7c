"""The HTTP API (``rag serve``): an OpenAI-compatible chat endpoint whose answers carry verified citations,
and the Python API's verbs over HTTP, on FastAPI and uvicorn (imported only in this package).

The modules: ``openai_format`` (pure builders of the OpenAI shapes, and reading a chat into question and
history), ``limits`` (the bounded line in front of the generator), ``metrics`` (Prometheus, one registry per
app), ``auth`` (the bind check and the bearer key), ``app`` (``create_app(assistant)``: routes, errors,
the guard) and ``runner`` (uvicorn in the foreground or on a thread). This face loads ``app`` and
``runner``, and so FastAPI, only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.serve.auth import bearer_ok, check_bind, is_loopback
from rag.serve.limits import Busy, Limiter
from rag.serve.openai_format import MODEL_ID

if TYPE_CHECKING:
    from rag.serve.app import create_app
    from rag.serve.runner import running, serve

__all__ = [
    "MODEL_ID",
    "Busy",
    "Limiter",
    "bearer_ok",
    "check_bind",
    "create_app",
    "is_loopback",
    "running",
    "serve",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from rag.serve import app

        return app.create_app
    if name in ("running", "serve"):
        from rag.serve import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
