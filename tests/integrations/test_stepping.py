"""What the adapters share (tram_bench.integrations.stepping): method resolution, the schedule, the logged means."""

from __future__ import annotations

import pytest

from tram_bench.integrations.stepping import ExtrasMeans, lr_lambda, resolve_method
from tram_bench.methods.base import StepStats
from tram_bench.train.schedule import lr_multiplier


def test_aliases_plugin_references_and_typed_values_resolve_as_in_a_suite():
    assert resolve_method("fsam").cls.id == "fisher_sam"
    assert resolve_method("Fisher-SAM").cls.id == "fisher_sam"
    plugin = resolve_method("tram_bench.methods.table:SAMMethod", {"rho": 1})
    assert plugin.cls.id == "sam" and plugin.hparams.rho == 1.0 and isinstance(plugin.hparams.rho, float)
    adam = resolve_method("adam", {"betas": [0.9, 0.95]})
    assert adam.hparams.betas == (0.9, 0.95)


@pytest.mark.parametrize("method,values,message", [
    ("no-such-method", None, "method 'no-such-method': unknown method id"),
    ("sam", {"rho": "big"}, "method 'sam': hyperparameter rho: expected float"),
    ("sam", [("rho", 0.1)], "method_hparams must be a mapping"),
])
def test_bad_methods_and_values_are_one_line(method, values, message):
    with pytest.raises(ValueError, match=message) as info:
        resolve_method(method, values)
    assert "\n" not in str(info.value)


def test_lr_lambda_is_the_loops_multiplier():
    fn = lr_lambda(20, "cosine", 3, 1.0)
    assert [fn(s) for s in range(20)] == [lr_multiplier(s, 20, "cosine", 3, 1.0) for s in range(20)]
    assert fn(0) == pytest.approx(1 / 3)  # the first warmup step is not wasted (Trainer's own gives 0)


def test_extras_means_leave_out_skipped_steps_and_non_finite_values():
    means = ExtrasMeans()
    means.add(StepStats(loss=1.0, forward=3, backward=2, extras={"divergence": 0.2, "perturbation_norm": 1.0}))
    means.add(StepStats(loss=1.0, forward=3, backward=2, extras={"divergence": 0.4, "perturbation_norm": float("nan")}))
    means.add(StepStats(loss=1.0, forward=1, backward=1, skipped=True, extras={"divergence": 9.0}))
    assert means.drain() == pytest.approx({"divergence": 0.3, "perturbation_norm": 1.0})
    assert means.drain() == {}
