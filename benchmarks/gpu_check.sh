#!/usr/bin/env bash
# The GPU check of issue 17, as one script: the LFMC paper protocol for MDiCo and Individual
# (100 runs) trained stacked with fit_stacked on one GPU, scored, compared with the CPU archive
# (data/archived_runs/lfmc_paper.csv) within noise, timed; results in benchmarks/results/.
#
#   benchmarks/gpu_check.sh                # the full check on cuda (exit 1 if outside noise)
#   benchmarks/gpu_check.sh --tiny         # 4 runs x 2 epochs, any device: checks the script itself
#   GPU_CHECK_TINY=1 benchmarks/gpu_check.sh   # the same
#
# Installs nothing but the project itself (`pip install -e .`, only when `mdico_core` is not
# importable): torch and the other dependencies must be there already. LFMC must be in the data
# cache ($MDICO_DATA_DIR, default data/cache; `make data` or `mdico data seed <folder>`).
# PYTHON picks the interpreter (default: .venv/bin/python, else python3); other arguments go to
# benchmarks/gpu_check.py (--stack K, --methods, --device, --out).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
if ! "$PY" -c "import mdico_core" 2>/dev/null; then
  "$PY" -m pip install -q -e .
fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
args=("$@")
if [ "${GPU_CHECK_TINY:-0}" = "1" ]; then args+=("--tiny"); fi
"$PY" -c "import torch; print('torch', torch.__version__, '| cuda available:', torch.cuda.is_available())"
exec "$PY" benchmarks/gpu_check.py "${args[@]}"
