"""The request bodies of the HTTP API (pydantic models): the Python API's field names."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.serve import openai_format as oa

FILTER_KEYS = ("language", "source", "outlet", "since", "until", "event")
Names = str | list[str] | None


class Filtered(BaseModel):
    """The filters of ``Assistant.search`` / ``ask`` (``rag.index.filters``): a value or a list each."""

    model_config = ConfigDict(extra="ignore")

    language: Names = None
    source: Names = None
    outlet: Names = None
    since: str | None = Field(None, description="ISO date, inclusive (2016-10-04, 2016-10, 2016)")
    until: str | None = Field(None, description="ISO date, inclusive")
    event: Names = Field(None, description="the reports of these events (GET /v1/events)")

    def filters(self) -> dict[str, Any]:
        return {k: v for k in FILTER_KEYS if (v := getattr(self, k)) is not None}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(Filtered):
    """An OpenAI chat request; sampling options are accepted and ignored (the answer stage fixes them)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"model": "rag", "messages": [{"role": "user", "content": "Who did TASS quote?"}]}]
        },
    )

    model: str = Field(oa.MODEL_ID, description="the assistant's model id: rag (the default)")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    k: int | None = Field(None, ge=1, le=50, description="passages to read (default RAG_TOP_K)")
    gloss: bool = False


class AskRequest(Filtered):
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"examples": [{"question": "Who did TASS quote?", "k": 5}]}
    )

    question: str
    history: list[tuple[str, str]] = Field(default_factory=list, description="[[question, answer], ...]")
    k: int | None = Field(None, ge=1, le=50)
    gloss: bool = False


class CompareRequest(Filtered):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"question": "Why did the US stop the talks with Russia?"}]},
    )

    question: str
    k: int | None = Field(None, ge=1, le=50)
    gloss: bool = False


class SearchRequest(Filtered):
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"examples": [{"query": "Who did TASS quote?", "language": "id"}]}
    )

    query: str
    k: int | None = Field(None, ge=1, le=100)
    mode: Literal["hybrid", "dense", "bm25"] | None = None


class SourcesRequest(BaseModel):
    """Web pages to fetch and ingest (``Assistant.ingest`` with URLs, ``Assistant.ingest_feed``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"urls": ["https://example.com/news/story.html"]}]},
    )

    urls: list[Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2048)]] = Field(
        default_factory=list, max_length=100, description="http(s) URLs of web pages"
    )
    feed: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2048)] | None = Field(
        None, description="an RSS or Atom feed: the page of each entry is ingested"
    )
