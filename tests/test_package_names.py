"""No package attribute shadows one of its submodules (issue 14 item 9's kind).

``tram_bench.optim`` used to re-export a function named ``divergence``, so ``from tram_bench.optim import
divergence`` gave the function and ``divergence.kl(...)`` (the README's code) raised AttributeError.
Every module of the package is imported and must be what its parent package's attribute of that name is.
"""

from __future__ import annotations

import importlib
import pkgutil

import tram_bench


def test_every_submodule_is_its_packages_attribute_of_that_name():
    shadowed = []
    for info in pkgutil.walk_packages(tram_bench.__path__, "tram_bench."):
        if info.name.endswith(".__main__"):  # running it is the command line itself
            continue
        module = importlib.import_module(info.name)
        parent, _, name = info.name.rpartition(".")
        attr = getattr(importlib.import_module(parent), name, None)
        if attr is not module:
            shadowed.append(f"{parent}.{name} is {type(attr).__name__}, not the module {info.name}")
    assert not shadowed, "\n".join(shadowed)
