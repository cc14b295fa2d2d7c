"""One typed settings object, read from ``RAG_*`` environment variables in this one place.

Every field has a default that works offline on a CPU laptop; ``Settings.from_env(**overrides)`` lets
the API and CLI override single values. A bad value raises ``ConfigError`` naming the variable.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import ConfigError

DEFAULT_MODELS_DIR = Path.home() / ".cache" / "rag-models"
RETRIEVAL_MODES = ("hybrid", "dense", "bm25")
EMBEDDING_BACKENDS = ("torch", "torch-int8", "onnx", "onnx-int8")
GENERATORS = ("local", "openai", "extractive")
DEFAULT_LLM = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DEFAULT_XQUAD = Path("../shared/bench/xquad-r")  # beside the checkout; relative to the current folder
DEFAULT_QA = Path("../shared/qa")  # the native-speaker QA sets (training the reader, `rag eval qa`)


@dataclass(frozen=True)
class Bars:
    """Score bars of evidence selection, in the active reader's units (``AnswerPolicy.bars``)."""

    floor: float  # other sentences go to the model when at least this ...
    near_best: float  # ... or within this of the best ...
    window: float  # ... and never more than this below it
    quote_window: float  # a quoted (extractive) answer quotes the sentences within this of the best
    min_answerable: float  # refuse when ``answerable`` is below this


@dataclass(frozen=True)
class AnswerPolicy:
    """Every threshold of the answer stage (``rag.answer``). Field ``x`` is read from ``RAG_X`` too, and
    ``rag eval --compare NAME:x=value`` varies it. Values marked *dev* were fitted by
    ``rag eval xquad-qa --split dev --calibrate`` (XQuAD-R articles 0-23), never on the test split or
    seeds."""

    # answer or refuse, for every generator: P(answerable) = sigmoid(answerable_bias + relevance_weight *
    # relevance of the best sentence + margin_weight * its margin over the next ones + same_language_weight
    # when it is in the question's language); refuse below min_answerable
    answerable_bias: float = -5.413  # dev
    relevance_weight: float = 10.514  # dev
    margin_weight: float = 17.379  # dev
    same_language_weight: float = -0.98  # dev
    min_answerable: float = 0.8384  # dev
    # the margin: best relevance minus the mean relevance of the next margin_of ranked sentences (of the top_k
    # passages: the weights above were fitted with the default top_k and chunk size)
    margin_of: int = 9
    # sentences after the best go to the model when within near_best of it or at least select_floor, and
    # never more than select_window below it
    select_floor: float = 0.32
    near_best: float = 0.05
    select_window: float = 0.25
    min_support: float = 0.40  # a claim needs this much support (cosine or word coverage) from its sentence
    # and each clause of a claim this much from some given sentence (dev: synthetic claims, XQuAD-R
    # translations with an appended clause of another paragraph: catches 0.79, drops 0.12 of the supported)
    min_clause_support: float = 0.40  # dev
    # a claim in its sentences' language may have at most this many content words that neither they nor
    # the question have (dev: rag bench faithfulness)
    max_unsupported_words: int = 0  # dev
    # across languages, where words cannot be compared: the support scorer's probability (rag train
    # support, rag/answer/support.npz) that a cited sentence says what the claim says. No weights ship (the
    # scorer trained so far did not earn its place: docs/answer-text.md) and 0 turns it off; `rag train
    # support` prints the bar it chose on XQuAD-R articles 18-23 (0.05 of their supported claims dropped)
    min_claim_support: float = 0.0
    # a claim citing no supporting sentence is re-pointed only with this much more support elsewhere
    repoint_margin: float = 0.1
    clearly_better: float = 0.25  # a sentence supporting a claim this much better than its own is cited too
    # an answer is in the question's language when at least this share of its words are (quotes, names
    # and numbers aside; rag.answer.mixing): dev, `rag bench language` (XQuAD-R articles 0-23)
    min_language_share: float = 0.95  # dev
    # a short answer copied from a sentence in another language is shown translated when the LLM's
    # translation is this close to the copied words (cosine; dev: the local LLM's translations of XQuAD-R
    # answers of articles 0-23, judged against the human translation, `rag bench language --translations`)
    min_phrase_translation: float = 0.80  # dev
    extractive_window: float = 0.1  # a quoted answer quotes the sentences within this relevance of the best
    long_sentence: int = 160  # characters: a longer sentence is also scored clause by clause
    clause_min: int = 30  # characters: a shorter clause is scored with its neighbour
    # the trained reader (RAG_READER=late, rag.answer.reader) ranks the sentences; the decision above
    # (min_answerable on relevance, margin and language, over the sentences by cosine) stays the one
    # answer-or-refuse rule for every reader: the reader's own decision was measured and did not beat it
    # (docs/answer-stage.md). A sentence's score under the reader: sigmoid(reader_bias +
    # reader_logit_weight * the reader's log-odds for it + reader_relevance_weight * its cosine), the
    # probability that it answers the question, fitted (python -m rag.evaluation.calibrate --reader) on
    # the dev rows the reader never trained on (XQuAD-R dev articles 16-23; never a test split); the
    # fitted threshold is reader_floor. Selection reads it (select_floor / near_best / select_window still add
    # the topical sentences by cosine to the model's context, rag.answer.evidence.select):
    reader_bias: float = -3.469  # dev
    reader_logit_weight: float = 0.329  # dev
    reader_relevance_weight: float = 12.903  # dev
    reader_floor: float = 0.7181  # dev: other sentences go to the model when at least this ...
    reader_near_best: float = 0.05  # ... or within this of the best ...
    reader_window: float = 0.5  # ... and never more than this below it
    reader_quote_window: float = 0.05  # a quoted answer quotes the sentences within this of the best

    def reader_answerable(self, probability: float, relevance: float) -> float:
        """A sentence's score under the trained reader: the probability that it answers the question,
        from the reader's probability for it and its pooled cosine to the question."""
        p = min(max(probability, 1e-6), 1 - 1e-6)
        z = self.reader_bias + self.reader_logit_weight * math.log(p / (1 - p))
        z += self.reader_relevance_weight * relevance
        return 1 / (1 + math.exp(-z))

    def bars(self, reader: str) -> Bars:
        """The selection and decision bars in the units of ``reader`` (``cosine`` or a trained one)."""
        if reader == "cosine":
            return Bars(
                self.select_floor,
                self.near_best,
                self.select_window,
                self.extractive_window,
                self.min_answerable,
            )
        return Bars(
            self.reader_floor,
            self.reader_near_best,
            self.reader_window,
            self.reader_quote_window,
            self.min_answerable,
        )

    def answerable(self, relevance: float, margin: float, same_language: float = 0.0) -> float:
        """P(answerable) from the best sentence's relevance, its margin over the next sentences and whether
        it is in the question's language (1 or 0)."""
        z = (
            self.answerable_bias
            + self.relevance_weight * relevance
            + self.margin_weight * margin
            + self.same_language_weight * same_language
        )
        return 1 / (1 + math.exp(-z))


@dataclass(frozen=True)
class Settings:
    """Configuration of the whole pipeline. Field ``x`` is read from ``RAG_X``."""

    index_dir: Path = Path(".rag")
    models_dir: Path = DEFAULT_MODELS_DIR
    embedding_model: Path | None = None  # default: models_dir / "embeddinggemma-300m"
    embedding_backend: str = "onnx-int8"
    # an OpenAI-compatible embeddings server instead of the local model (e.g. http://gpu-box:8080/v1)
    embedding_url: str = ""
    embedding_name: str = "embeddinggemma-300m"  # model name sent to that server; names its vector space
    embedding_api_key: str = ""  # default: OPENAI_API_KEY
    # 1: dynamic int8 scales activations over the whole batch, so batch 1 keeps a chunk's vector
    # independent of its neighbours; with length-sorted input it is also the fastest here (measured)
    embed_batch_size: int = 1
    threads: int = 0  # 0: let the runtime decide
    # document batches encoded at once (ONNX backends; remote: requests in flight): 2 measured 1.3x of 1
    embed_workers: int = 2
    max_file_mb: float = 20.0
    # how much of a web page ingest keeps as the article: trafilatura's precision, default or recall
    # balance (rag bench extract: precision was the best F1 on both halves of the benchmark's pages)
    page_mode: str = "precision"
    # events (rag.index.events): the grouping threshold; 0 = the shipped model's own (rag train events)
    event_threshold: float = 0.0
    # fetching web pages and feeds (rag ingest URL, --feed, rag watch): polite and safe by default
    fetch_user_agent: str = "rag-news-qa/0.1 (news question answering; honours robots.txt)"
    fetch_timeout_s: float = 20.0  # a whole request, connection to last byte
    fetch_delay_s: float = 1.0  # between two requests to one host
    fetch_max_redirects: int = 5
    fetch_allow_private: bool = False  # private, loopback and link-local addresses (tests, intranets)
    watch_minutes: float = 15.0  # rag watch: minutes between two rounds
    chunk_chars: int = 600  # measured: rag bench retrieval --chunk-sizes 400,600,800,1000,1200
    chunk_overlap_chars: int = 120
    retrieval: str = "hybrid"
    top_k: int = 5
    rrf_k: int = 60
    bm25_weight: float = 0.5
    collection: str = "rag_chunks"
    chroma_url: str = ""  # empty: embedded PersistentClient in index_dir
    # several ingests on one Chroma server (rag.index.writers): seconds between a writer's heartbeats, and
    # how long a silent writer's unfinished articles are left alone before a repair removes them
    writer_heartbeat_s: float = 5.0
    writer_expiry_s: float = 30.0
    # story groups (rag.index.stories; chosen on XQuAD-R dev articles: rag bench stories)
    story_threshold: float = 0.50  # mean coverage (+ number agreement) with a story's members
    story_number_weight: float = 0.25
    story_duplicate: float = 0.85  # a second member in one language must be a near-copy of it
    compare_sources: int = 6  # most sources (story groups) a comparison shows
    # sentence-similarity cosine of two sources saying the same: dev precision 0.98 (rag bench compare)
    compare_agree: float = 0.74
    # ... of two sentences on one matter (a difference when their numbers conflict): the 95th percentile of
    # other sentences of the same paragraph on XQuAD-R dev
    compare_related: float = 0.66
    # what each source is compared on: its sentences of this many best passages (each source is searched
    # on its own) ...
    compare_depth: int = 15
    # ... within select_window of its best sentence, at most this many
    compare_sentences: int = 12
    # evidence budget of each source's own answer (context_tokens for ask and chat): a comparison answers
    # from one article at a time, whose reason or reply often sits below the sentences restating the
    # question (320 against 160 measured on the answer piles: docs/history.md)
    compare_context_tokens: int = 320
    progress: bool = True
    # answering (issue 3)
    generator: str = "local"  # local (llama.cpp in process), openai (any compatible server), extractive
    llm_model: Path | None = None  # GGUF for `local`; default: models_dir / DEFAULT_LLM
    llm_url: str = ""  # base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1
    llm_name: str = "default"  # model name sent to that server
    llm_api_key: str = ""  # bearer token for that server (default: OPENAI_API_KEY)
    llm_timeout: float = 120.0  # seconds to wait for the server
    llm_context: int = 2048  # context window of the local model (tokens)
    context_tokens: int = 160  # budget for source sentences in the prompt (prompt speed: docs/benchmarks.md)
    answer_tokens: int = 160  # most tokens generated for one answer
    policy: AnswerPolicy = AnswerPolicy()  # the answer stage's thresholds (their own RAG_* names)
    # which reader scores the evidence sentences (rag.answer.reader): late (the trained reader shipped with
    # the package), cosine (the pooled cosine: the path before the reader), or a path to other weights
    reader: str = "late"
    # chat page (issue 4): required when `rag chat` binds a non-loopback address
    chat_user: str = ""
    chat_password: str = ""
    # HTTP API (`rag serve`, issue 19): required (as a bearer token on /v1 and /metrics) when it binds a
    # non-loopback address
    api_key: str = ""
    cors_origins: str = ""  # comma-separated origins allowed to call the API from a browser; empty: no CORS
    serve_host: str = "127.0.0.1"
    serve_port: int = 8080
    serve_generations: int = 1  # answers generated at once (one llama.cpp context answers one at a time)
    serve_queue: int = 8  # requests waiting for a generation slot; beyond that: 429 with Retry-After
    # where things live outside the package (relative paths are from the current folder)
    prompts_dir: Path | None = None  # default: the templates shipped with the package
    xquad_dir: Path = DEFAULT_XQUAD  # the XQuAD-R benchmark (evaluation only)
    qa_dir: Path = DEFAULT_QA  # the native-speaker QA sets (training and evaluation only)
    chromium: str = "/usr/bin/chromium"  # the browser `rag bench page` drives

    def __post_init__(self) -> None:
        _check_choice("RAG_RETRIEVAL", self.retrieval, RETRIEVAL_MODES)
        _check_choice("RAG_EMBEDDING_BACKEND", self.embedding_backend, EMBEDDING_BACKENDS)
        _check_choice("RAG_GENERATOR", self.generator, GENERATORS)
        _check_choice("RAG_PAGE_MODE", self.page_mode, ("precision", "default", "recall"))
        for name in (
            "embed_batch_size",
            "embed_workers",
            "top_k",
            "compare_depth",
            "compare_sentences",
            "chunk_chars",
            "rrf_k",
            "llm_context",
            "context_tokens",
            "compare_context_tokens",
            "answer_tokens",
            "serve_generations",
            "serve_port",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"RAG_{name.upper()} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.chunk_overlap_chars < self.chunk_chars:
            raise ConfigError("RAG_CHUNK_OVERLAP_CHARS must be >= 0 and smaller than RAG_CHUNK_CHARS")
        if self.max_file_mb <= 0:
            raise ConfigError(f"RAG_MAX_FILE_MB must be > 0, got {self.max_file_mb}")
        if self.serve_queue < 0:
            raise ConfigError(f"RAG_SERVE_QUEUE must be >= 0, got {self.serve_queue}")
        if self.fetch_timeout_s <= 0 or self.fetch_delay_s < 0 or self.fetch_max_redirects < 0:
            raise ConfigError(
                "RAG_FETCH_TIMEOUT_S must be > 0, RAG_FETCH_DELAY_S and RAG_FETCH_MAX_REDIRECTS >= 0"
            )
        if not 0 <= self.event_threshold < 1:
            raise ConfigError(
                f"RAG_EVENT_THRESHOLD must be in [0, 1) (0: the model's own), got {self.event_threshold}"
            )
        if self.watch_minutes <= 0:
            raise ConfigError(f"RAG_WATCH_MINUTES must be > 0, got {self.watch_minutes}")
        if self.llm_timeout <= 0:
            raise ConfigError(f"RAG_LLM_TIMEOUT must be > 0, got {self.llm_timeout}")
        if self.writer_heartbeat_s <= 0:
            raise ConfigError(f"RAG_WRITER_HEARTBEAT_S must be > 0, got {self.writer_heartbeat_s}")
        if self.writer_expiry_s < 2 * self.writer_heartbeat_s:
            raise ConfigError(
                "RAG_WRITER_EXPIRY_S must be at least twice RAG_WRITER_HEARTBEAT_S, got "
                f"{self.writer_expiry_s} and {self.writer_heartbeat_s}"
            )

    @property
    def embedding_path(self) -> Path:
        return Path(self.embedding_model or self.models_dir / "embeddinggemma-300m").expanduser()

    @property
    def llm_path(self) -> Path:
        return Path(self.llm_model or self.models_dir / DEFAULT_LLM).expanduser()

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``RAG_*`` variables, then non-None ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        policy: dict[str, Any] = {}
        for target, fields in ((values, dataclasses.fields(cls)), (policy, dataclasses.fields(AnswerPolicy))):
            for f in fields:
                raw = env.get(f"RAG_{f.name.upper()}")
                if raw is not None and raw != "" and f.name != "policy":
                    target[f.name] = _parse(f, raw)
        policy_names = {f.name for f in dataclasses.fields(AnswerPolicy)}
        for k, v in overrides.items():
            if v is not None:
                (policy if k in policy_names else values)[k] = v
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        if policy:
            values["policy"] = dataclasses.replace(values.get("policy") or AnswerPolicy(), **policy)
        for key in ("llm_api_key", "embedding_api_key"):  # OPENAI_API_KEY when ours is unset
            if not values.get(key) and env.get("OPENAI_API_KEY"):
                values[key] = env["OPENAI_API_KEY"]
        for key in (
            "index_dir",
            "models_dir",
            "embedding_model",
            "llm_model",
            "prompts_dir",
            "xquad_dir",
            "qa_dir",
        ):
            if values.get(key) is not None:
                values[key] = Path(values[key]).expanduser()
        return cls(**values)


def is_loopback(host: str) -> bool:
    """Whether a bind address or host name stays on this machine: ``localhost`` or a loopback IP (``[::1]``
    brackets allowed). The page and the HTTP API refuse other binds without credentials."""
    host = host.strip().lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _parse(f: dataclasses.Field, raw: str) -> Any:
    kind = str(f.type)
    name = f"RAG_{f.name.upper()}"
    try:
        if kind == "bool":
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes", "on")
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a {kind}, got {raw!r}") from None
    return raw


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
