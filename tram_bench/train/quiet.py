"""Third-party progress bars off inside runs, so the grid's log shows only tram-bench's own progress.

transformers draws a "Loading weights" bar on every ``from_pretrained`` (once per run, into the
worker's stderr, which the grid's log collects), and ``huggingface_hub``, ``datasets`` and plain
``tqdm`` draw their own. Each library reads its switch in one of two ways, so both are set:

- environment variables, read when the library is first imported (``HF_HUB_DISABLE_PROGRESS_BARS``,
  which transformers also follows; ``HF_DATASETS_DISABLE_PROGRESS_BARS``; ``TQDM_DISABLE``, tqdm's
  default for ``disable``);
- the libraries' own functions, for a library this process imported already (a fork server preloads
  task modules before any run): ``transformers.utils.logging.disable_progress_bar()``,
  ``huggingface_hub.utils.disable_progress_bars()``, ``datasets.disable_progress_bars()``.

Warnings and errors of those libraries still print; only the bars go.
"""

from __future__ import annotations

import os
import sys

ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1"}


def silence_progress_bars() -> None:
    """Turn off the progress bars of transformers, huggingface_hub, datasets and tqdm in this process
    (and its children, through ``ENV``). Never imports a library that is not loaded yet; never raises."""
    os.environ.update(ENV)
    calls = (("transformers", "transformers.utils.logging", "disable_progress_bar"),
             ("huggingface_hub", "huggingface_hub.utils", "disable_progress_bars"),
             ("datasets", "datasets", "disable_progress_bars"))
    for top, module, name in calls:
        if top not in sys.modules:
            continue  # the environment variables reach it when it is imported
        try:
            getattr(__import__(module, fromlist=[name]), name)()
        except Exception:  # noqa: BLE001 - an old or broken library keeps its bar; the run must not fail for it
            pass


__all__ = ["ENV", "silence_progress_bars"]
