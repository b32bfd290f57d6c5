"""The adapter tests run tiny float64 models: one intra-op thread is faster than several on a shared
machine (the tiny kernels only pay for the threads' synchronisation) and gives the same numbers."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
