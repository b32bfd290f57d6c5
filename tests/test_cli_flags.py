"""Bad command-line flags: one line, exit code 2, nothing written (issue 14 item 6).

``tram-bench run SUITE --threads -1`` used to print a traceback, exit 1, and had already written the plan
file into the results directory; ``--results ''`` (an unset shell variable) wrote into the current
directory. Every numeric and path flag is checked while the command line is parsed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tram_bench.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
SUITE = "tests/fixtures/suites/synthetic.yaml"

RUN_BAD_FLAGS = [
    ("--threads", "-1"), ("--threads", "0"), ("--threads", "two"),
    ("--workers", "0"), ("--workers", "-2"), ("--workers", "1.5"),
    ("--cpus-per-run", "-1"), ("--cpus-per-run", "0"), ("--cpus-per-run", "nan"),
    ("--gpus-per-run", "-1"), ("--gpus-per-run", "inf"),
    ("--mem-gb", "0"), ("--mem-gb", "-4"),
    ("--timeout-min", "0"), ("--timeout-min", "-60"),
    ("--max-array-size", "0"),
    ("--slurm-cluster", "None"), ("--executor", "k8s"),
    ("--device", "tpu"), ("--device", "cuda:x"),
    ("--address", ""), ("--partition", ""), ("--only", ""),
    ("--results", ""), ("--results", "  "),
]


@pytest.mark.parametrize("flag,value", RUN_BAD_FLAGS, ids=lambda v: repr(v))
def test_bad_run_flag_is_one_line_exit_2_and_writes_nothing(flag, value, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # `--results ''` would have written here
    suite = ROOT / SUITE
    argv = ["run", str(suite), flag, value] + (["--results", str(tmp_path / "r")] if flag != "--results" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"tram-bench run: error: argument {flag}: "), lines[0]
    assert repr(value) in lines[0]
    assert os.listdir(tmp_path) == []  # neither the results directory nor anything in the working directory


@pytest.mark.parametrize("argv", [
    ["plan", SUITE, "--results", ""],
    ["collect", "--results", ""],
    ["report", "--results", ""],
    ["export", "--results", ""],
    ["export", "--out", ""],
    ["leaderboard", "--results", ""],
    ["leaderboard", "--out", ""],
    ["report", "--task", ""],
    ["validate", ""],
], ids=" ".join)
def test_empty_path_or_name_is_refused_by_every_command(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = [str(ROOT / a) if a == SUITE else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "must be non-empty (an unset shell variable?), got ''" in err[0], err
    assert os.listdir(tmp_path) == []


def test_every_results_and_out_flag_is_checked():
    """A new command with --results or --out gets the same check (the parser is walked, not listed by hand)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    unchecked = [f"{name} {opt}" for name, sp in sub.choices.items() for a in sp._actions
                 for opt in a.option_strings if opt in ("--results", "--out") and a.type is None]
    assert not unchecked, unchecked


def test_unknown_or_abbreviated_flag_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    """An abbreviation used to be taken for the flag it starts (``--thread 2`` ran with ``--threads 2``)."""
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(ROOT / SUITE), "--thread", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["tram-bench: error: unrecognized arguments: --thread 2 (see tram-bench --help)"]
    assert os.listdir(tmp_path) == []


def test_good_flags_still_parse():
    args = build_parser().parse_args(["run", SUITE, "--threads", "2", "--workers", "2", "--cpus-per-run", "0.5",
                                      "--gpus-per-run", "0", "--mem-gb", "1.5", "--timeout-min", "5",
                                      "--max-array-size", "300", "--device", "cuda:1"])
    assert (args.threads, args.workers, args.cpus_per_run, args.gpus_per_run, args.mem_gb, args.timeout_min,
            args.max_array_size, args.device) == (2, 2, 0.5, 0.0, 1.5, 5, 300, "cuda:1")
