"""No suite or run value is ever executed: no eval/exec, no unsafe pickle or torch.load, no yaml.load."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "tram_bench"


def _calls():
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call):
                yield path, node


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return f"{_name(func.value)}.{func.attr}"
    return ""


def _safe_loaders() -> set[str]:
    import yaml

    from tram_bench.suite.locations import ValueLoader

    assert issubclass(ValueLoader, yaml.SafeLoader)
    return {"SafeLoader", "CSafeLoader", "ValueLoader"}


SAFE_LOADERS = _safe_loaders()


def test_no_eval_exec_or_unsafe_deserialisation():
    bad = []
    for path, call in _calls():
        name = _name(call.func)
        where = f"{path.relative_to(ROOT.parent)}:{call.lineno}"
        if name in ("eval", "exec", "pickle.load", "pickle.loads", "yaml.unsafe_load"):
            bad.append(f"{where}: {name}(...)")
        if name == "yaml.load":
            loader = {k.arg: k.value for k in call.keywords}.get("Loader")
            if not (isinstance(loader, ast.Name) and loader.id in SAFE_LOADERS):
                bad.append(f"{where}: yaml.load without a SafeLoader subclass")
        if name == "torch.load":
            kw = {k.arg: k.value for k in call.keywords}
            if not (isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True):
                bad.append(f"{where}: torch.load without weights_only=True")
    assert not bad, "\n".join(bad)
