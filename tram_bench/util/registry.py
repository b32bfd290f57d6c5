"""Lazy registries of methods and tasks.

Built-in entries are ``"module:Class"`` strings so that listing ids never imports torch-heavy code.
A suite may also name a class directly (``my_pkg.methods:MyMethod``), and installed packages may
register under the entry-point groups ``tram_bench.methods`` / ``tram_bench.tasks``. Only such an
explicit ``module:attr`` reference ever imports code; nothing from a suite is evaluated.
"""

from __future__ import annotations

import functools
import importlib
from importlib import metadata
from typing import Any


class RegistryError(LookupError):
    """An id or ``module:Class`` reference that cannot be resolved (message is user-facing)."""


class Registry:
    def __init__(self, kind: str, entry_point_group: str) -> None:
        self.kind = kind
        self.group = entry_point_group
        self._targets: dict[str, str | Any] = {}

    def add(self, id: str, target: str | Any) -> None:
        self._targets[id] = target

    def target(self, id: str) -> str | None:
        """The ``module:Class`` string an id resolves to, without importing it (None if unknown)."""
        target = self._targets.get(id)
        if isinstance(target, str):
            return target
        if target is not None:
            return f"{target.__module__}:{target.__qualname__}"
        for ep in _entry_points(self.group):
            if ep.name == id:
                return ep.value
        return id if is_reference(id) else None

    def ids(self) -> list[str]:
        ids = set(self._targets)
        for ep in _entry_points(self.group):
            ids.add(ep.name)
        return sorted(ids)

    def __contains__(self, id: str) -> bool:
        return self.known(id)

    def known(self, id: str) -> bool:
        if id in self._targets or is_reference(id):
            return True
        return any(ep.name == id for ep in _entry_points(self.group))

    def get(self, id: str) -> Any:
        if id in self._targets:
            target = self._targets[id]
            return load_reference(target) if isinstance(target, str) else target
        for ep in _entry_points(self.group):
            if ep.name == id:
                try:
                    return ep.load()
                except Exception as exc:  # noqa: BLE001 - reported as one line
                    raise RegistryError(f"entry point {self.group}:{id} failed to load: {exc}") from None
        if is_reference(id):
            return load_reference(id)
        raise RegistryError(f"unknown {self.kind} id {id!r}")


def is_reference(text: str) -> bool:
    """True for ``package.module:Attr`` (the only form that imports user code)."""
    if text.count(":") != 1:
        return False
    mod, attr = text.split(":")
    return bool(mod) and bool(attr) and all(p.isidentifier() for p in mod.split(".")) and attr.isidentifier()


def load_reference(ref: str) -> Any:
    mod_name, attr = ref.split(":")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise RegistryError(f"cannot import module {mod_name!r} for {ref!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise RegistryError(f"module {mod_name!r} has no attribute {attr!r} (from {ref!r})") from None


@functools.lru_cache(maxsize=None)
def _entry_points(group: str) -> tuple:
    """Installed entry points of ``group`` (scanned once per process: the scan costs ~50 ms)."""
    try:
        return tuple(metadata.entry_points(group=group))
    except Exception:  # noqa: BLE001 - broken metadata of an unrelated package must not break us
        return ()
