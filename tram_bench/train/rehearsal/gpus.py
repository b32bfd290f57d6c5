"""GPUs that ``tram-bench plan --cost`` projects for, and its default efficiency (no heavy imports: the CLI's
parser reads the names)."""

from __future__ import annotations

from dataclasses import dataclass

# Share of the peak FLOPs a fine-tuning run sustains (model FLOPs utilisation); 0.3-0.5 is usual for
# transformer fine-tuning with PyTorch eager kernels. Override with --efficiency.
DEFAULT_EFFICIENCY = 0.4


@dataclass(frozen=True)
class Gpu:
    """One GPU: memory (the board's advertised GB, counted as GiB: an 80 GB H100 shows 79.6 GiB in nvidia-smi,
    within the projection's headroom) and dense peak TFLOPs (bf16 tensor cores; fp32
    without TF32, PyTorch's default for matrix products). Sources: NVIDIA's datasheets of each board
    (H100 / H200 SXM, A100 SXM, L40S, A10) and the Ada architecture whitepaper (RTX 4090); dense figures, not
    the 2x "with sparsity" ones."""

    name: str
    memory_gb: float
    bf16_tflops: float
    fp32_tflops: float

    def tflops(self, precision: str) -> float:
        return self.fp32_tflops if precision == "fp32" else self.bf16_tflops


GPUS: dict[str, Gpu] = {g.name: g for g in (
    Gpu("H200", 141, 989, 67),
    Gpu("H100", 80, 989, 67),
    Gpu("H100-PCIe", 80, 756, 51),
    Gpu("A100-80", 80, 312, 19.5),
    Gpu("A100-40", 40, 312, 19.5),
    Gpu("L40S", 48, 362, 91.6),
    Gpu("A10", 24, 125, 31.2),
    Gpu("RTX4090", 24, 165, 82.6),
)}
DEFAULT_GPU = "A100-80"


def custom_gpu(tflops: float, memory_gb: float) -> Gpu:
    """A GPU given by its numbers (``--tflops X --memory-gb Y``): X is used at every precision."""
    return Gpu(f"custom ({tflops:g} TFLOPs, {memory_gb:g} GB)", memory_gb, tflops, tflops)

GPU_NAMES = tuple(GPUS)
