"""The README's promises: two commands for a fresh clone, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_quick_start_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = _bash_blocks(quick)
    assert len(blocks) == 2, blocks
    main_cmd, test_cmd = blocks
    assert "tram-bench run suites/" in main_cmd and "tram-bench leaderboard" in main_cmd
    assert "pytest" in test_cmd
    ci = (ROOT / ".ci/run").read_text().splitlines()
    assert test_cmd in ci, "the last command of .ci/run must be the README's test command"


def test_benchmark_your_own_optimizer_example_runs(tmp_path, monkeypatch):
    """The README's one-file example, verbatim, on the generated task (the README uses a digits task)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Benchmark your own optimizer", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    suite = re.search(r"```yaml\n(.*?)```", section, flags=re.S).group(1)
    (tmp_path / "my_optimizer.py").write_text(code)
    (tmp_path / "my_suite.yaml").write_text(suite)
    monkeypatch.syspath_prepend(str(tmp_path))

    from tram_bench.cli import main

    results = tmp_path / "results"
    code = main(["run", str(tmp_path / "my_suite.yaml"), "--results", str(results), "--quiet", "--no-collect",
                 "-O", "seeds=[0]", "-O", "tasks=[{id: synthetic, train: {steps: 4, eval_every: 2}}]"])
    assert code == 0
    import json

    methods = sorted(json.loads((d / "record.json").read_text())["spec"]["method"]
                     for d in (results / "runs").iterdir())
    assert methods == ["my_optimizer:SignumMethod", "my_optimizer:SignumMethod", "sgd", "tram-prev"]
