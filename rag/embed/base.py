"""The embedding stage's protocol: ``Embedder`` is what the rest of the package depends on;
``embedding_space`` names the vector space a configuration makes.
Where a model's ONNX exports live and what makes an export current are here too: the set-up stage writes
them (``rag.setup.onnx_export``), the ONNX backend only reads them."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.errors import ConfigError

ONNX_RECIPES = {"onnx": "fp32", "onnx-int8": "int8-nodown"}
QUANTIZE_RECIPES = ("fp32", "int8-nodown", "int8-all")
SIMILARITY_PROMPT = "STS"  # the sentence-transformers prompt name for sentence similarity


class Embedder(Protocol):
    """Maps documents and queries into one vector space (rows L2-normalised, float32)."""

    name: str

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class TokenStates(Protocol):
    """An embedder that also gives the encoder's token states (the reader of the answer stage reads them):
    per text, float16 rows of the last hidden states of the text's own tokens (no prompt)."""

    def document_states(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]: ...

    def query_states(self, text: str) -> tuple[np.ndarray, np.ndarray]: ...


def has_states(embedder: object) -> bool:
    """Whether ``embedder`` gives token states (the local backends do; a remote server does not). A
    wrapper that decides later says so with a ``gives_states`` attribute."""
    said = getattr(embedder, "gives_states", None)
    if said is not None:
        return bool(said)
    return callable(getattr(embedder, "document_states", None)) and callable(
        getattr(embedder, "query_states", None)
    )


def embed_similar(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Vectors for telling whether short texts mean the same thing, with the model's sentence-similarity
    prompt (EmbeddingGemma: ``task: sentence similarity``; it tells a translation, White ~ Putih 0.95,
    from an association, Putin ~ Russia 0.81, where document vectors score both 0.84). An embedder
    without ``embed_similar`` gives document vectors."""
    method = getattr(embedder, "embed_similar", None)
    return method(texts) if method is not None else embedder.embed_documents(texts)


def offline_env() -> None:
    """Never reach for a hub; keep library chatter (progress bars, info logs) off the user's terminal."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def require_model(path: Path) -> None:
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ConfigError(
            f"embedding model not found at {path}: run `make setup` (or "
            "`python -m rag.setup`), or set RAG_EMBEDDING_MODEL / RAG_MODELS_DIR"
        )


def onnx_dir(model_dir: Path) -> Path:
    """Where a model's ONNX exports live: a sibling folder ``<model>-onnx``."""
    return Path(model_dir).parent / f"{Path(model_dir).name}-onnx"


def export_stamp(model_dir: Path) -> dict[str, Any]:
    """What the export depends on: the source weights (size + mtime) and the recipe format."""
    weights = model_dir / "model.safetensors"
    stat = weights.stat()
    return {
        "source": str(model_dir.resolve()),
        "size": stat.st_size,
        "mtime": int(stat.st_mtime),
        "format": 3,  # 3: token states as a second output
    }


def export_files(folder: Path, recipe: str) -> tuple[Path, Path]:
    """The ONNX file of ``recipe`` in ``folder`` and the stamp beside it."""
    return folder / f"{recipe}.onnx", folder / f"{recipe}.json"


def export_is_current(model_dir: Path, folder: Path, recipe: str) -> bool:
    """Whether ``folder`` holds a ``recipe`` export made from the weights now in ``model_dir``."""
    target, meta = export_files(folder, recipe)
    return target.exists() and meta.exists() and json.loads(meta.read_text()) == export_stamp(model_dir)


def model_prompts(model_dir: Path) -> tuple[str, str, str]:
    """The model's own (query, document, similarity) prompts from its sentence-transformers config."""
    config = Path(model_dir) / "config_sentence_transformers.json"
    prompts = json.loads(config.read_text()).get("prompts", {}) if config.exists() else {}
    document = prompts.get("document", "")
    return prompts.get("query", ""), document, prompts.get(SIMILARITY_PROMPT, document)


def space_from(settings: Any) -> str:
    """The vector space of ``embedder_from(settings)``: a remote model is named by ``RAG_EMBEDDING_NAME``,
    so a server running the local model (same name) shares the local space."""
    if settings.embedding_url:
        return f"{settings.embedding_name}/fp32"
    return embedding_space(settings.embedding_path, settings.embedding_backend)


def embedding_space(model_path: Path, backend: str) -> str:
    """Name of the vector space a configuration produces; documents and queries must share one.

    torch fp32, ONNX fp32 and ONNX int8-nodown are one space (measured: mixed document/query variants
    give the same retrieval scores); torch dynamic int8 drifts too far (cosine 0.88) and is its own.
    """
    return f"{Path(model_path).name}/{'torch-int8' if backend == 'torch-int8' else 'fp32'}"
