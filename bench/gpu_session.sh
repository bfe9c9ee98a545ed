#!/usr/bin/env bash
# One call on a GPU host that runs what a change to the verifier must show there, at once, and prints the
# tables last (for a lent machine with little time: docs/benchmarks.md records the results):
#   1. the GPU fixtures (verifier/tests/gpu/check_verifier.py), as the other slots' load, and
#   2. the timing repeatability benchmark (bench/timing_repeat.py),
#   3. the gpu-marked tests that are not whole checks (pytest -m gpu -k "not check").
# Usage: bash bench/gpu_session.sh OUT_DIR [BUDGET_S]
set -uo pipefail
OUT=${1:?output directory}
BUDGET=${2:-420}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.."
# the candidate's confinement needs user, mount, network and PID namespaces and setpriv; say so when the
# host has none rather than spending the call on infra_error verdicts
if ! unshare -rmnpf --mount-proc true 2>/dev/null || ! command -v setpriv >/dev/null; then
  echo "WARNING: no namespaces for the candidate here: VERIFIER_ALLOW_UNCONFINED=1" | tee "$OUT/unconfined.txt"
  export VERIFIER_ALLOW_UNCONFINED=1
fi
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, 'cuda', torch.version.cuda)" >> "$OUT/gpu.txt" 2>&1
timeout "$BUDGET" python3 -m verifier.tests.gpu.check_verifier --out "$OUT/fixtures" --budget-s $((BUDGET - 60)) \
  > "$OUT/fixtures.log" 2>&1 &
FIX=$!
timeout "$BUDGET" python3 bench/timing_repeat.py --runs "${RUNS:-5}" --busy "${BUSY:-1}" --out "$OUT" \
  ${ONLY:+--only "$ONLY"} > "$OUT/timing.log" 2>&1
wait $FIX
timeout 60 python3 -m pytest -q -m gpu verifier/tests/gpu -k "not check and not verifier_fixtures and not batch and not slots and not flex and not shape" \
  > "$OUT/gpu_tests.log" 2>&1
cat "$OUT/gpu.txt"
echo "== gpu tests"; tail -15 "$OUT/gpu_tests.log"
echo "== fixtures"; cat "$OUT/fixtures/gpu_check.md" 2>/dev/null | tail -45 || tail -20 "$OUT/fixtures.log"
echo "== timing"; grep -v '^\[' "$OUT/timing.log" | tail -16
