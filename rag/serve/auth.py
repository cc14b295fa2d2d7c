"""Who may call the API: loopback binds are open unless ``RAG_API_KEY`` is set; any other bind needs the key,
and with a key every ``/v1`` route (and ``/metrics``) wants ``Authorization: Bearer <key>``."""

from __future__ import annotations

import hmac

from rag.errors import ConfigError
from rag.settings import is_loopback

__all__ = ["bearer_ok", "check_bind", "is_loopback"]


def check_bind(host: str, api_key: str) -> None:
    """Refuse to expose the API beyond this machine without a key (``ConfigError``, exit status 2)."""
    if not api_key and not is_loopback(host):
        raise ConfigError(
            f"binding {host} exposes the API beyond this machine: set RAG_API_KEY (clients then send "
            "'Authorization: Bearer <key>'), or use --host 127.0.0.1"
        )


def bearer_ok(header: str | None, api_key: str) -> bool:
    """True when no key is configured, or ``header`` is ``Bearer <api_key>`` (compared in constant time)."""
    if not api_key:
        return True
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), api_key.encode())
