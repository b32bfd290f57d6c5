"""The method table (tram_bench.methods.table) and the path of one hyperparameter, ``rho``, from a
suite's YAML to ``first_step``: three forms (YAML value, ``Hparams`` field, optimizer option) and
one validation."""

from __future__ import annotations

import pickle

import pytest
import torch

from methods_support import MLP, ClassifierObjective, classifier_batch
from tram_bench.methods.base import StepContext
from tram_bench.methods.registry import METHODS
from tram_bench.methods.table import TABLE, MethodInfo, method_class
from tram_bench.optim.sam import SAM
from tram_bench.optim.two_pass import TwoPassOptimizer
from tram_bench.suite.load import resolve_suite
from tram_bench.util.registry import load_reference


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.id)
def test_each_row_is_the_class_the_registry_returns(row: MethodInfo):
    cls = METHODS.get(row.id)
    assert cls is method_class(row)
    assert (cls.id, cls.version, cls.passes) == (row.id, row.version, row.passes)
    assert cls.Hparams is load_reference(row.hparams)
    assert issubclass(cls, load_reference(row.recipe))
    # Workers receive classes by reference (fork, Ray): the built class must round-trip.
    assert pickle.loads(pickle.dumps(cls)) is cls


def test_a_row_builds_its_optimizer_and_target():
    model = MLP().double()
    method = METHODS.get("asam+mesa")(model, ClassifierObjective(), METHODS.get("asam+mesa").Hparams(decay=0.5), lr=0.1)
    assert type(method.two_pass).__name__ == "ASAM"
    assert type(method.target).__name__ == "AveragedWeights" and method.target.decay == 0.5
    plain = METHODS.get("sgd")(MLP().double(), ClassifierObjective(), METHODS.get("sgd").Hparams(), lr=0.1)
    assert plain.two_pass is None and plain.target is None


def test_an_unknown_name_is_an_attribute_error():
    import tram_bench.methods.table as table

    with pytest.raises(AttributeError, match="NoSuchMethod"):
        table.NoSuchMethod  # noqa: B018


def _count_group_checks(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = SAM.check_group

    def counted(self, group, index):
        calls.append(index)
        return original(self, group, index)

    monkeypatch.setattr(SAM, "check_group", counted)
    return calls


def test_rho_goes_from_yaml_to_first_step_checked_once(tmp_path, monkeypatch):
    suite = tmp_path / "rho.yaml"
    suite.write_text(
        "suite: rho-path\nseeds: [0]\n"
        "train: {steps: 1, batch_size: 8, lr: 0.1}\n"
        "tasks:\n  - id: synthetic\n"
        "methods:\n  - id: sam\n    hparams: {rho: 0.25}\n",
        encoding="utf-8",
    )
    (spec,) = resolve_suite(suite).cells
    hp = spec.hparams  # form 2: the Hparams field (form 1 is the YAML value above)
    assert hp.rho == 0.25
    calls = _count_group_checks(monkeypatch)
    model = MLP().double()
    method = METHODS.get("sam")(model, ClassifierObjective(), hp, lr=0.1)
    assert calls == []  # the method path does not check rho a second time
    assert [g["rho"] for g in method.two_pass.param_groups] == [0.25]  # form 3: the optimizer option

    seen: list[float] = []
    perturbation = SAM.perturbation

    def spy(self):
        seen.extend(g["rho"] for g in self.param_groups)
        return perturbation(self)

    monkeypatch.setattr(SAM, "perturbation", spy)
    method.step([classifier_batch(8, seed=1)], StepContext())
    assert seen == [0.25]


def test_standalone_optimizers_still_check_their_options(monkeypatch):
    calls = _count_group_checks(monkeypatch)
    params = list(MLP().parameters())
    SAM(params, torch.optim.SGD, rho=0.1, lr=0.1)
    assert calls == [0]
    with pytest.raises(ValueError, match=r"SAM: rho .*-1"):
        SAM(params, torch.optim.SGD, rho=-1.0, lr=0.1)
    # After a prechecked build, groups added later are checked again.
    opt = SAM.prechecked(params[:1], torch.optim.SGD, rho=0.1, lr=0.1)
    with pytest.raises(ValueError, match=r"rho .*-2.0 \(param group 1\)"):
        opt.add_param_group({"params": params[1:], "rho": -2.0})


def test_hparams_is_the_one_check_of_a_bad_rho():
    with pytest.raises(ValueError, match=r"SAMHparams.rho must be >= 0, got -0.5"):
        METHODS.get("sam").Hparams(rho=-0.5)


def test_every_two_pass_builder_uses_the_prechecked_path(monkeypatch):
    """Each row's optimizer builder hands its (already checked) hyperparameters to ``prechecked``."""
    built: list[str] = []
    original = TwoPassOptimizer.prechecked.__func__

    def record(cls, *args, **kwargs):
        built.append(cls.__name__)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(TwoPassOptimizer, "prechecked", classmethod(record))
    for row in TABLE:
        if row.optimizer is None:
            continue
        cls = METHODS.get(row.id)
        built.clear()
        cls(MLP().double(), ClassifierObjective(), cls.Hparams(), lr=0.1)
        assert len(built) == 1, row.id


def test_a_new_hyperparameter_at_its_default_leaves_run_ids_equal(tmp_path):
    """The rule of docs/architecture.md: a field declared ``since_results`` stays out of the cell's
    document, hence its run id and seeds, while it equals its default."""
    import dataclasses

    from tram_bench.methods.hparams import SAMHparams, number

    @dataclasses.dataclass
    class LaterSAMHparams(SAMHparams):
        extra: float = number(0.0, since_results=True)

    suite = tmp_path / "later.yaml"
    suite.write_text(
        "suite: later\nseeds: [0]\ntrain: {steps: 1, batch_size: 8, lr: 0.1}\n"
        "tasks:\n  - id: synthetic\nmethods:\n  - id: sam\n",
        encoding="utf-8",
    )
    (spec,) = resolve_suite(suite).cells
    later = dataclasses.replace(spec, hparams=LaterSAMHparams())
    assert (later.doc.run_id, later.doc.method_seed) == (spec.doc.run_id, spec.doc.method_seed)
    changed = dataclasses.replace(spec, hparams=LaterSAMHparams(extra=0.5))
    assert changed.doc.run_id != spec.doc.run_id and changed.doc.hparams["extra"] == 0.5
