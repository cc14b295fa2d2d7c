"""Prometheus metrics of one API app, in a registry of its own (two apps in one process never collide):
requests by route and status, latency by route, refusals, requests turned away, streams cut off,
and the generation line."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "rag_http_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "rag_http_request_seconds",
            "seconds from request to the end of the response (streams included), by route",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.answers = Counter("rag_answers_total", "answers written, by outcome", ["outcome"], registry=r)
        self.rejected = Counter(
            "rag_rejected_total",
            "requests turned away by the generation line, by status",
            ["status"],
            registry=r,
        )
        self.streams_cancelled = Counter(
            "rag_streams_cancelled_total",
            "streamed answers cut off before their end (the client went away)",
            registry=r,
        )
        self.active = Gauge("rag_generations_active", "answers being written now", registry=r)
        self.waiting = Gauge("rag_queue_waiting", "requests waiting for a generation slot", registry=r)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def answered(self, refused: bool) -> None:
        self.answers.labels("refused" if refused else "answered").inc()

    def queue(self, active: int, waiting: int) -> None:
        self.active.set(active)
        self.waiting.set(waiting)

    def text(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
