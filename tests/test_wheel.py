"""`pip install .` (a wheel, not editable) gives a working `rag`: the prompt templates ship inside the wheel,
and nothing is looked up in the checkout. The new venv gets the project's dependencies from this one (a .pth
line), so only the wheel itself is installed."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)


def test_the_wheel_answers_outside_the_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    built = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(ROOT),
        ]
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("rag-*.whl")

    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    python = venv / "bin" / "python"
    purelib = Path(
        run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    )
    ours = Path(sysconfig.get_paths()["purelib"])
    (purelib / "deps.pth").write_text(
        f"{ours}\n" + "".join(f"{p}\n" for p in site.getsitepackages() if p != str(ours))
    )
    installed = run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)]
    )
    assert installed.returncode == 0, installed.stderr
    # every module of the checkout's package is in the wheel (pyproject.toml lists the subpackages by hand)
    ours_modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "rag").rglob("*.py")}
    wheel_modules = {p.relative_to(purelib).as_posix() for p in (purelib / "rag").rglob("*.py")}
    assert ours_modules <= wheel_modules, sorted(ours_modules - wheel_modules)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the wheel alone, never a checkout
    env["RAG_INDEX_DIR"] = str(tmp_path / "index")
    where = run(
        [
            str(python),
            "-c",
            "import rag, rag.answer.prompts as p; print(rag.__file__); print(p.shipped_dir())",
        ],
        cwd=elsewhere,
        env=env,
    )
    package, templates = where.stdout.split()
    assert package.startswith(str(purelib)) and templates.startswith(str(purelib)), where.stdout
    assert (Path(templates) / "system.txt").is_file() and (Path(templates) / "refusal.ru.txt").is_file()

    rag = [str(venv / "bin" / "rag")]
    ingest = run(rag + ["ingest", str(ROOT / "seeds"), "--json"], cwd=elsewhere, env=env)
    assert ingest.returncode == 0, ingest.stderr
    assert len(json.loads(ingest.stdout)["added"]) == 2
    asked = run(
        rag + ["ask", "Siapa yang dikutip TASS?", "--generator", "extractive", "--json"],
        cwd=elsewhere,
        env=env,
    )
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["citations"] and not answer["refused"]
    refused = run(
        rag + ["ask", "Какое население Турции?", "--generator", "extractive", "--json"],
        cwd=elsewhere,
        env=env,
    )
    assert refused.returncode == 0 and json.loads(refused.stdout)["refused"], refused.stdout + refused.stderr
