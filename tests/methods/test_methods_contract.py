"""Registry, hyperparameter defaults and validation, pass counts, and cross-method identities."""

from __future__ import annotations

import pytest
import torch
from methods_support import FP32, MLP, assert_same, build, classifier_batch, weights

from tram_bench.methods.base import BaseHparams, Method
from tram_bench.methods.hparams import TRAMHparams
from tram_bench.methods.registry import BUILTIN_METHOD_IDS, METHODS

# Paper Tables 1-2: (forward, backward) passes per step. The ASAM combinations are not in the
# paper's tables; they count what they execute (see trust_region.py).
PAPER_PASSES = {
    "sgd": (1, 1), "adam": (1, 1),
    "sam": (2, 2), "asam": (2, 2), "fisher_sam": (2, 2),
    "trpo": (2, 1), "r3f": (2, 1), "mesa": (2, 1),
    "tram-prev": (3, 2), "tram-init": (3, 2), "tram-x": (3, 2), "tram-fisher": (2, 2),
    "asam+trpo": (3, 2), "asam+mesa": (3, 2), "asam+r3f": (4, 2),
}

# Appendix B.2 defaults (sigma of TRAM-x / TRAM-Fisher is not in the paper: R3F's 0.1).
PAPER_DEFAULTS = {
    "sgd": {"base": "sgd"},
    "adam": {"base": "adam", "betas": (0.9, 0.99)},
    "sam": {"base": "sgd", "rho": 0.05},
    "asam": {"base": "sgd", "rho": 0.5, "eta": 0.0},
    "fisher_sam": {"base": "sgd", "rho": 0.1, "eta": 0.1},
    "trpo": {"base": "sgd", "lam": 0.1, "divergence": "kl"},
    "r3f": {"base": "sgd", "lam": 0.1, "sigma": 0.1, "noise": "normal", "divergence": "kl"},
    "mesa": {"base": "sgd", "lam": 0.1, "decay": 0.999, "divergence": "kl"},
    "asam+trpo": {"base": "sgd", "lam": 0.1, "rho": 0.5, "eta": 0.0, "divergence": "kl"},
    "asam+r3f": {"base": "sgd", "lam": 0.1, "rho": 0.5, "sigma": 0.1, "noise": "normal", "divergence": "kl"},
    "asam+mesa": {"base": "sgd", "lam": 0.1, "rho": 0.5, "decay": 0.999, "divergence": "kl"},
    "tram-prev": {"base": "sgd", "divergence": "kl", "eta": 0.0},
    "tram-init": {"base": "sgd", "divergence": "kl", "eta": 0.0},
    "tram-x": {"base": "sgd", "divergence": "kl", "eta": 0.0, "sigma": 0.1, "noise": "normal"},
    "tram-fisher": {"base": "sgd", "rho": 0.1, "fisher_eta": 0.1, "sigma": 0.1, "noise": "normal"},
}


@pytest.mark.parametrize("mid", BUILTIN_METHOD_IDS)
def test_registry_id_loads_its_class(mid):
    cls = METHODS.get(mid)
    assert issubclass(cls, Method) and cls.id == mid
    assert issubclass(cls.Hparams, BaseHparams)
    assert cls.passes == PAPER_PASSES[mid]


def test_registry_covers_every_method_once():
    assert sorted(BUILTIN_METHOD_IDS) == sorted(PAPER_PASSES) == sorted(PAPER_DEFAULTS)


@pytest.mark.parametrize("mid", BUILTIN_METHOD_IDS)
def test_defaults_are_the_papers(mid):
    hp = METHODS.get(mid).Hparams()
    for name, value in PAPER_DEFAULTS[mid].items():
        assert getattr(hp, name) == value, name


@pytest.mark.parametrize("mid", BUILTIN_METHOD_IDS)
def test_executed_passes_match_declared(mid):
    model = MLP(bn=True, dropout=0.2)
    method = build(mid, model, **({"base": "adam"} if mid == "adam" else {}))
    for seed in (1, 2):
        stats = method.step([classifier_batch(8, seed)], FP32)
        assert (stats.forward, stats.backward) == PAPER_PASSES[mid]
        # Two micro-batches are still one pass each.
        batch = classifier_batch(8, seed + 10)
        stats = method.step([tuple(t[:4] for t in batch), tuple(t[4:] for t in batch)], FP32)
        assert (stats.forward, stats.backward) == PAPER_PASSES[mid]


BAD_VALUES = [
    ("sam", "rho", -0.1), ("asam", "eta", -1.0), ("fisher_sam", "eta", -0.5),
    ("trpo", "lam", -0.1), ("asam+trpo", "lam", -1.0),
    ("r3f", "sigma", -0.1), ("tram-x", "sigma", -0.01), ("tram-fisher", "fisher_eta", -0.1),
    ("mesa", "decay", 1.5), ("asam+mesa", "decay", -0.1),
    ("sam", "base", "lion"), ("tram-prev", "divergence", "js"), ("r3f", "divergence", "kl_forward"),
    ("r3f", "noise", "laplace"), ("tram-fisher", "noise", "gauss"),
    ("sam", "rho", "0.05"), ("sam", "rho", float("nan")), ("adam", "betas", (0.9, 1.0)),
    ("sgd", "base", "adam"), ("adam", "base", "sgd"), ("sgd", "eps", 0.0), ("sgd", "momentum", -0.9),
]


@pytest.mark.parametrize("mid,field,value", BAD_VALUES, ids=[f"{m}-{f}-{v!r}" for m, f, v in BAD_VALUES])
def test_bad_hparams_raise_naming_field_and_value(mid, field, value):
    with pytest.raises(ValueError) as err:
        METHODS.get(mid).Hparams(**{field: value})
    message = str(err.value)
    assert field in message and repr(value) in message and "\n" not in message


def test_yaml_betas_list_becomes_a_tuple_and_every_divergence_is_accepted():
    assert METHODS.get("adam").Hparams(betas=[0.8, 0.9]).betas == (0.8, 0.9)
    for name in ("kl", "kl_reverse", "kl_symmetric", "mmd", "l2"):
        assert TRAMHparams(divergence=name).divergence == name


def test_wrong_hparams_type_is_rejected():
    with pytest.raises(TypeError, match="SAMHparams"):
        METHODS.get("sam")(MLP(), None, TRAMHparams(), lr=0.1)


def test_tram_fisher_without_noise_is_fisher_sam():
    a, b = MLP(), MLP()
    tram = build("tram-fisher", a, sigma=0.0, rho=0.1, fisher_eta=40.0)
    fsam = build("fisher_sam", b, rho=0.1, eta=40.0)
    for seed in (1, 2):
        tram.step([classifier_batch(8, seed)], FP32)
        fsam.step([classifier_batch(8, seed)], FP32)
    assert_same(weights(a), weights(b))


@pytest.mark.parametrize("mid,lam_free", [("trpo", "sgd"), ("mesa", "sgd"), ("asam+trpo", "asam"), ("asam+mesa", "asam")])
def test_zero_penalty_weight_is_the_unpenalised_method(mid, lam_free):
    # lam = 0 removes the penalty term exactly (0 * D), so the trajectory is the plain method's.
    a, b = MLP(), MLP()
    ma, mb = build(mid, a, lam=0.0, momentum=0.9), build(lam_free, b, momentum=0.9)
    for seed in (1, 2):
        sa = ma.step([classifier_batch(8, seed)], FP32)
        sb = mb.step([classifier_batch(8, seed)], FP32)
        assert sa.loss == sb.loss
    assert_same(weights(a), weights(b))


def test_state_dict_holds_targets_and_noise_generator():
    state = build("asam+r3f", MLP()).state_dict()
    assert set(state) == {"optimizer", "target", "noise_generator"} and state["target"] == {}
    for mid in ("trpo", "mesa", "tram-prev", "tram-init"):
        state = build(mid, MLP()).state_dict()
        # TRAM also keeps its radius schedule (radius_every): the step count and the last d.
        schedule = {"steps_taken", "radius"} if mid.startswith("tram") else set()
        assert set(state) == {"optimizer", "target"} | schedule
        assert set(state["target"]["weights"]) == set(MLP().state_dict())
    assert set(build("sgd", MLP()).state_dict()) == {"optimizer"}
    # The optimizer entry is the base optimizer's: the transient copies of w are never saved.
    sam = build("sam", MLP())
    sam.step([classifier_batch(8, 1)], FP32)
    assert sam.state_dict()["optimizer"]["param_groups"][0]["rho"] == 0.05
    assert isinstance(sam.optimizer, torch.optim.SGD)
