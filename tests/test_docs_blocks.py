"""Every code block of README.md, docs/*.md and tram_bench/**/*.md runs here, on tiny inputs (issue 14 item 9).

A block runs according to its language:

- ``python``: executed in a fresh namespace that already holds a tiny ``model``, ``previous_model``, ``x``,
  ``y`` and ``loss_fn`` (the names the README's optimizer example uses), with the working directory a
  sandbox whose ``results/`` holds a tiny collected grid (the synthetic test suite, 4 steps);
- ``bash`` / ``sh``: run by bash in that sandbox with ``tram-bench`` on PATH replaced by a shim that runs the
  real command line, except that ``run`` trains every task entry of the suite on the generated task for 2
  steps, one seed (same labels, methods and flags); ``suites/`` is the repository's;
- ``yaml``: a suite (``suite:`` key) is validated exactly as ``tram-bench validate`` does, with the
  plug-in ids the docs use (``my_pkg.methods:MyMethod``, ``my_pkg.tasks:MyTask``) provided by the sandbox;
  a ``tasks:`` mapping of published tables is read by the published-data reader;
- ``json``: a run record (``run_id`` and ``status`` keys) must use only keys a real record has;
- ``text``: not code (a directory listing, a usage sketch); never run.

A block that cannot run here (GPU, Slurm, hub, network installs, long real runs) carries, on the line
directly above its opening fence, ``<!-- docs-test: skip (REASON) -->``. A block with neither a runner nor
the marker fails ``test_every_block_has_a_runner_or_a_skip_marker``, so new blocks in any doc are covered.
A block introduced by prose ending in ``Save as `NAME`:`` (or naming ``NAME`` with a trailing colon) is also
written to the sandbox as ``NAME`` before any bash block runs, as the reader would have done.

``test_every_cli_flag_in_the_docs_exists_and_is_tested`` extracts the ``tram-bench`` flags the docs show
and checks each one is a flag of the command line and appears in at least one other test file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# The README, docs/, and the READMEs that live beside the code (a task family's own notes).
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "tram_bench").rglob("*.md"))]
SKIP_MARKER = re.compile(r"^\s*<!-- docs-test: skip \((?P<reason>[^()]*\S[^()]*)\) -->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")
RUNNABLE = {"python", "bash", "sh", "yaml", "json"}
NOT_CODE = {"text"}
SYNTHETIC_SUITE = ROOT / "tests/fixtures/suites/synthetic.yaml"


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    skip: str | None  # the marker's reason
    marker_problem: str | None  # a marker-like line above the fence that does not follow the format
    save_as: str | None

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent = m.group("indent")
        j = i + 1
        while j < len(lines) and not re.match(rf"^{indent}```\s*$", lines[j]):
            j += 1
        body = textwrap.dedent("\n".join(lines[i + 1 : j])) + "\n"
        above = lines[i - 1] if i else ""
        marker = SKIP_MARKER.match(above)
        problem = f"malformed marker {above.strip()!r}" if "docs-test" in above and not marker else None
        prose = next((ln for ln in reversed(lines[:i]) if ln.strip() and "docs-test" not in ln), "")
        saved = re.findall(r"`([\w./-]+\.(?:py|ya?ml))`", prose) if prose.rstrip().endswith(":") else []
        out.append(Block(path, i + 1, m.group("lang"), body, marker.group("reason") if marker else None, problem,
                         saved[-1] if saved else None))
        i = j + 1
    return out


ALL_BLOCKS = [b for path in DOC_FILES for b in _blocks(path)]


def test_the_docs_have_blocks():
    assert len(ALL_BLOCKS) >= 10 and any(b.path.name == "README.md" for b in ALL_BLOCKS)


def test_every_block_has_a_runner_or_a_skip_marker():
    bad = [f"{b.name}: {b.marker_problem}" for b in ALL_BLOCKS if b.marker_problem]
    bad += [f"{b.name}: ```{b.lang or '(no language)'} has no runner here; tag it (python, bash, sh, yaml, json, or "
            f"text for a non-code listing) or put '<!-- docs-test: skip (REASON) -->' directly above the fence"
            for b in ALL_BLOCKS if b.skip is None and b.lang not in RUNNABLE | NOT_CODE]
    assert not bad, "\n".join(bad)


# --------------------------------------------------------------------------------------------- sandbox
TINY_TRAIN = ("{steps: 2, eval_every: 2, batch_size: 16, eval_batch_size: 64, analysis_examples: 16, "
              "sharpness_steps: 1, sharpness_batch_size: 8}")

SHIM = '''
"""tram-bench as the docs show it, but `run` trains each task entry on the generated task for 2 steps."""
import sys
from pathlib import Path

import yaml

from tram_bench.cli import main

TINY = "TINY_TRAIN"
argv = sys.argv[1:]
if argv[:1] == ["run"] and len(argv) > 1 and Path(argv[1]).is_file():
    suite = yaml.safe_load(Path(argv[1]).read_text()) or {}
    tiny = ["-O", "seeds=[0]"]
    for i, entry in enumerate(suite.get("tasks") or []):
        label = entry.get("label") or entry.get("id")
        # Same label (so --only patterns still match), distinct params (so entries stay distinct cells).
        tiny += ["-O", f"tasks.{i}.id=synthetic", "-O", f"tasks.{i}.label='{label}'",
                 "-O", f"tasks.{i}.params={{hidden: {8 + i}}}", "-O", f"tasks.{i}.train=" + TINY]
    argv = argv + tiny + ["--workers", "1", "--threads", "1", "--quiet"]
sys.exit(main(argv))
'''.replace("TINY_TRAIN", TINY_TRAIN)

PLUGIN_TASKS = '''
from tram_bench.tasks.synthetic import SyntheticShiftTask


class MyTask(SyntheticShiftTask):
    """The docs' example task id: the generated task under another class."""

    id = "my-task"
'''
PLUGIN_METHODS = '''
from tram_bench.methods.table import SGDMethod


class MyMethod(SGDMethod):
    """The docs' example method id: plain SGD under another class."""

    id = "my-method"
'''


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    from tram_bench.cli import main

    box = tmp_path_factory.mktemp("docs")
    (box / "suites").symlink_to(ROOT / "suites")
    (box / "my_pkg").mkdir()
    (box / "my_pkg/__init__.py").write_text("")
    (box / "my_pkg/tasks.py").write_text(PLUGIN_TASKS)
    (box / "my_pkg/methods.py").write_text(PLUGIN_METHODS)
    for b in ALL_BLOCKS:
        if b.save_as:
            (box / b.save_as).write_text(b.text)
    bin_dir = box / "bin"
    bin_dir.mkdir()
    (bin_dir / "tram-bench").write_text(f"#!{sys.executable}\n{SHIM}")
    (bin_dir / "tram-bench").chmod(0o755)
    code = main(["run", str(SYNTHETIC_SUITE), "--results", str(box / "results"), "--quiet", "-O", "seeds=[0]",
                 "-O", "tasks.0.train.steps=4", "-O", "tasks.0.train.eval_every=2", "--only", "sgd"])
    assert code == 0
    return box


def _preamble() -> dict:
    """The names the docs' Python examples take as given: a tiny classifier, its inputs, labels and loss."""
    import copy

    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    return {"torch": torch, "model": model, "previous_model": copy.deepcopy(model), "x": torch.randn(6, 4),
            "y": torch.randint(0, 3, (6,)), "loss_fn": torch.nn.functional.cross_entropy}


def _run_python(block: Block, box: Path, monkeypatch) -> None:
    import types

    monkeypatch.chdir(box)
    monkeypatch.syspath_prepend(str(box))
    # A real module (dataclasses and pickling look the defining module up in sys.modules).
    module = types.ModuleType(f"docs_block_{block.line}")
    module.__dict__.update(_preamble())
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(block.text, block.name, "exec"), module.__dict__)


def _run_bash(block: Block, box: Path, monkeypatch) -> None:
    env = dict(os.environ, PATH=f"{box / 'bin'}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", block.text], cwd=box, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, f"{block.name} exited {out.returncode}:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"


def _run_yaml(block: Block, box: Path, monkeypatch) -> None:
    data = yaml.safe_load(block.text)
    assert isinstance(data, dict), f"{block.name}: a YAML block must be a mapping"
    if "suite" in data:
        from tram_bench.suite.load import expand, load_suite

        monkeypatch.syspath_prepend(str(box))
        path = box / f"block-{block.line}.yaml"
        path.write_text(block.text)
        assert expand(load_suite(str(path), []))
        return
    if set(data) <= {"tasks", "families"} and all("table" in t for t in data.get("tasks") or []):
        from tram_bench.report.published import read_published

        real = yaml.safe_load((ROOT / "tram_bench/report/published/mapping.yaml").read_text())
        path = box / f"mapping-{block.line}.yaml"
        path.write_text(yaml.safe_dump({**real, **data}))
        mapped = read_published(mapping_path=path).mapping.tasks
        assert {m.task for m in mapped} >= {t["task"] for t in data["tasks"]}
        return
    pytest.fail(f"{block.name}: no runner for a YAML block with keys {sorted(data)}")


def _known_keys(doc, real, where: str) -> list[str]:
    """Keys of the documented JSON that the real record lacks (recursively, first element of lists)."""
    if isinstance(doc, list) and isinstance(real, list) and doc and real:
        return _known_keys(doc[0], real[0], where + "[0]")
    if not isinstance(doc, dict) or not isinstance(real, dict):
        return []
    missing = [f"{where}.{k}" for k in doc if k not in real]
    for k in doc:
        if k in real and k not in ("packages", "hparams", "task_params", "train"):  # free-form mappings
            missing += _known_keys(doc[k], real[k], f"{where}.{k}")
    return missing


def _run_json(block: Block, box: Path, monkeypatch) -> None:
    # "{...RunSpec.to_json()...}" stands for a mapping the docs do not spell out.
    data = json.loads(re.sub(r"\{\.\.\.[^{}]*\.\.\.\}", "{}", block.text))
    if isinstance(data, dict) and {"run_id", "status"} <= set(data):
        record = json.loads(next((box / "results/runs").glob("*/record.json")).read_text())
        missing = _known_keys(data, record, "record")
        assert not missing, f"{block.name}: documented keys that a real record.json does not have: {missing}"


RUNNERS = {"python": _run_python, "bash": _run_bash, "sh": _run_bash, "yaml": _run_yaml, "json": _run_json}


def _block_params():
    """Every runnable block; bash blocks start a process per command (torch import, seconds each): slow."""
    for b in ALL_BLOCKS:
        if b.skip is None and b.lang in RUNNERS:
            marks = [pytest.mark.slow] if b.lang in ("bash", "sh") else []
            yield pytest.param(b, id=b.name, marks=marks)


@pytest.mark.parametrize("block", list(_block_params()))
def test_block_runs(block, sandbox, monkeypatch):
    RUNNERS[block.lang](block, sandbox, monkeypatch)


# --------------------------------------------------------------------------------------------- flags
def _benchmarks_section(text: str) -> tuple[str, str]:
    """(the text without the README's Benchmarks section, that section): flags there are the scripts' own."""
    m = re.search(r"^## Benchmarks.*?(?=^## )", text, flags=re.S | re.M)
    return (text, "") if not m else (text[: m.start()] + text[m.end():], m.group(0))


def _flags_in(pieces) -> list[str]:
    return [flag for piece in pieces
            for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[A-Za-z])(?![\w-])", piece)]


def _doc_flags() -> dict[str, str]:
    """flag -> where the docs show it: in code lines that run ``tram-bench`` and in inline code that is a flag
    (or a ``tram-bench`` command). Other programs' flags (pip, ray, chromium, pytest, the benchmark scripts)
    are not ours."""
    found: dict[str, str] = {}
    for path in DOC_FILES:
        text, _ = _benchmarks_section(path.read_text())
        spans = re.findall(r"`([^`\n]+)`", text)
        lines = [ln for b in _blocks(path) for ln in b.text.replace("\\\n", " ").splitlines()]
        pieces = [s for s in spans if s.startswith("-") or s.startswith("tram-bench")]
        pieces += [ln[ln.index("tram-bench"):] for ln in lines if "tram-bench " in ln]
        for flag in _flags_in(pieces):
            found.setdefault(flag, path.name)
    return found


def test_every_benchmark_flag_in_the_readme_is_a_flag_of_a_benchmark_script():
    _, section = _benchmarks_section((ROOT / "README.md").read_text())
    shown = set(_flags_in(s for s in re.findall(r"`([^`\n]+)`", section) if s.startswith("-")))
    scripts = "\n".join(p.read_text() for p in (ROOT / "benchmarks").glob("*.py"))
    missing = sorted(f for f in shown if f'"{f}"' not in scripts)
    assert shown and not missing, f"benchmark flags in the README that no script in benchmarks/ defines: {missing}"


def _parser_flags() -> set[str]:
    from tram_bench.cli import build_parser

    parser = build_parser()
    flags = set()
    for action in parser._actions:
        flags.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                for a in sub._actions:
                    flags.update(a.option_strings)
    return flags


def test_every_cli_flag_in_the_docs_exists_and_is_tested():
    shown = _doc_flags()
    assert {"--results", "--workers", "-O", "--only", "--max-array-size"} <= set(shown)
    unknown = sorted(f for f in shown if f not in _parser_flags())
    assert not unknown, f"flags shown in the docs that tram-bench does not have: {unknown}"
    tests_text = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.name != Path(__file__).name)
    # The bash blocks that run here (test_block_runs) exercise their flags too.
    run_here = set(_flags_in(ln[ln.index("tram-bench"):] for b in ALL_BLOCKS if b.skip is None and b.lang in ("bash", "sh")
                             for ln in b.text.replace("\\\n", " ").splitlines() if "tram-bench " in ln))
    untested = sorted(f for f in shown if f not in run_here
                      and not re.search(rf"""["']{re.escape(f)}(["'=])""", tests_text))
    assert not untested, f"flags shown in the docs that no test passes: {untested}"
