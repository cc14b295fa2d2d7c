"""The one exception root of the package and its few subclasses.

Third-party errors are translated into these at the module that owns the SDK; the CLI and the UI turn
them into plain messages.
"""

from __future__ import annotations


class RagError(Exception):
    """Root of every error the package raises on purpose."""


class ConfigError(RagError):
    """A setting is invalid or points at something missing (the message names the setting)."""


class CorpusError(RagError):
    """An input file or folder cannot be read."""


class FetchError(CorpusError):
    """A web page or feed that could not be fetched (the reason is the message)."""


class StoreError(RagError):
    """The index folder is missing, broken or incompatible."""


class ModelError(RagError):
    """A model could not be loaded or run."""


class NotFoundError(StoreError):
    """No article of that name in the index."""


class AmbiguousSourceError(StoreError):
    """A name that matches several articles."""


class EmptyIndexError(StoreError):
    """The index holds no article yet."""


class QueryError(RagError):
    """A question or search request is invalid (empty, bad option)."""


class ServiceError(RagError):
    """A request the HTTP API turns away or answers with an error status (``rag.serve``)."""


__all__ = [
    "AmbiguousSourceError",
    "ConfigError",
    "CorpusError",
    "EmptyIndexError",
    "ModelError",
    "NotFoundError",
    "QueryError",
    "RagError",
    "ServiceError",
    "StoreError",
]
