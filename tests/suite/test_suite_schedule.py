"""Schedule rules hold whichever way a run's length is given (issue 14 item 4): steps or epochs."""

from __future__ import annotations

import pytest

from tram_bench.suite.load import expand, load_suite
from tram_bench.suite.train_rules import check_train_combination, run_length
from tram_bench.suite.validate import validate
from tram_bench.tasks.base import TrainDefaults
from tram_bench.tasks.synthetic import SyntheticParams, SyntheticShiftTask

SUITE = """
suite: sched
seeds: [0]
tasks:
  - id: synthetic
    params: {train_size: 100}
    train: TRAIN
methods:
  - id: sgd
"""


def test_run_length_counts_like_the_training_loop():
    # The loop: per_epoch = max(1, N // batch_size); total = max(1, round(epochs * per_epoch)).
    task = SyntheticShiftTask(SyntheticParams(train_size=100), seed=0)
    assert task.num_train_examples() == 100  # train_size is this task's exact training-set size
    train = {**vars(TrainDefaults()), "epochs": 2.5, "batch_size": 32}
    assert run_length(train, 100)[0] == max(1, round(2.5 * (100 // 32))) == 8
    assert run_length({**train, "epochs": 0.1}, 100)[0] == 1
    assert run_length({**train, "batch_size": 500}, 100)[0] == 2  # a batch larger than the data: one per epoch
    assert run_length(train, None) == (None, "")
    assert run_length({**train, "epochs": None, "steps": 7})[0] == 7


@pytest.mark.parametrize("train, message", [
    ("{epochs: 1, batch_size: 32, warmup_steps: 3}", "warmup_steps (3) must be < the run's length (at most 3 steps"),
    ("{epochs: 1, batch_size: 10, eval_every: 11}", "eval_every (11) must be <= the run's length (at most 10 steps"),
    ("{steps: 5, warmup_steps: 5}", "warmup_steps (5) must be < steps (5)"),
    ("{steps: 5, eval_every: 6}", "eval_every (6) must be <= steps (5)"),
])
def test_validate_catches_schedule_problems_in_steps_and_in_epochs(write_suite, train, message):
    errors = [str(e) for e in validate(write_suite(SUITE.replace("TRAIN", train)))]
    assert any(message in e for e in errors), errors


@pytest.mark.parametrize("train", [
    "{epochs: 1, batch_size: 32, warmup_steps: 2, eval_every: 3}",  # 3 steps: warmup 2 < 3, eval at 3
    "{steps: 5, eval_every: 6, selection: final}",  # no selection: one evaluation at the end is enough
    "{epochs: 1, batch_size: 32, schedule: cosine, poly_power: 1}",  # the default power changes nothing
])
def test_consistent_schedules_pass(write_suite, train):
    assert validate(write_suite(SUITE.replace("TRAIN", train))) == []


def test_a_task_default_eval_every_longer_than_a_shortened_run_is_allowed(write_suite):
    # synthetic's default eval_every is 10: a 4-step smoke run still evaluates at its end.
    specs = expand(load_suite(write_suite(SUITE.replace("TRAIN", "{steps: 4}"))))
    assert specs[0].train.eval_every > specs[0].train.steps


def test_steps_from_another_level_than_epochs_are_not_a_conflict():
    train = {**vars(TrainDefaults()), "epochs": 2.0}
    given = {"steps": ("train", "steps"), "epochs": ("tasks", 0, "train", "epochs")}
    assert check_train_combination(train, given, 256) == []
    given["steps"] = ("tasks", 0, "train", "steps")
    assert [p[0] for p in check_train_combination(train, given, 256)] == ["steps"]
