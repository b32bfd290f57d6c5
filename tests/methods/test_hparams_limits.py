"""Every hyperparameter's limits sit next to its field and one routine checks them."""

from __future__ import annotations

import dataclasses

import pytest

from tram_bench.methods.hparams import CheckedHparams, check_fields, number, one_of
from tram_bench.methods.registry import BUILTIN_METHOD_IDS, METHODS

# The base optimizer's fields are declared in methods/base.py and checked by CheckedHparams itself.
BASE_FIELDS = {f.name for f in dataclasses.fields(CheckedHparams)}


@pytest.mark.parametrize("method_id", BUILTIN_METHOD_IDS)
def test_every_method_field_declares_its_limits(method_id):
    hcls = METHODS.get(method_id).Hparams
    bare = [f.name for f in dataclasses.fields(hcls)
            if f.name not in BASE_FIELDS and not ({"limits", "choices"} & set(f.metadata))]
    assert not bare, f"{hcls.__name__}: fields without limits or choices: {bare}"


@dataclasses.dataclass
class _Plugin(CheckedHparams):
    width: float = number(1.0, 0.0, 2.0)
    mode: str = one_of("a", ("a", "b"))


def test_a_plugin_field_is_checked_by_the_same_routine():
    assert _Plugin(width=2.0, mode="b").width == 2.0
    with pytest.raises(ValueError, match=r"_Plugin.width must be in \[0, 2\], got 3.0"):
        _Plugin(width=3.0)
    with pytest.raises(ValueError, match=r"_Plugin.mode: unknown value 'c' \(valid: a, b\)"):
        _Plugin(mode="c")
    hp = _Plugin()
    object.__setattr__(hp, "width", -1.0)
    with pytest.raises(ValueError, match="width"):
        check_fields(hp)
