#!/usr/bin/env bash
# The GPU check of `verify` and `audit` (docs/audit.md), for a GPU host after `make setup` and
# `npx tsc -p tsconfig.json`: the embedded stack with the CUDA verifier judges a correct kernel (the
# lines a GPU verdict adds must be there: timing with its interval, speedups, % of speed of light), a
# cheating one, and a small audit whose report must count them. Exit 0 when every check holds.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI="node dist/cli/main.js"
FIX=verifier/tests/fixtures
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export KS_DATA_DIR="$WORK/data"
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$($CLI verify --verifier cuda --problem $FIX/problems/elementwise_add.py --kernel $FIX/candidates/add_correct.py) || fail "verify of add_correct exited $?: $out"
echo "$out"
grep -q 'HOLDS UP' <<<"$out" || fail "add_correct does not hold up"
grep -Eq '^timing: .* \[.*\] per call \((cuda-graph|stream)\)' <<<"$out" || fail "no GPU timing with an interval"
grep -Eq '^speedup: [0-9.]+× \[' <<<"$out" || fail "no speedup with an interval"
grep -q '^speed of light: ' <<<"$out" || fail "no % of speed of light"

rc=0; out=$($CLI verify --verifier cuda --problem $FIX/problems/elementwise_add.py --kernel $FIX/candidates/cheat_fallback_no_kernel.py) || rc=$?
echo "$out"
[ "$rc" = 3 ] || fail "the torch-fallback cheat exited $rc, not 3"
grep -q 'cheat torch-fallback:' <<<"$out" || fail "no torch-fallback evidence"

# An audit needs running workers: dev in the background, on its own ports.
export KS_TEMPORAL_PORT=17233 KS_TEMPORAL_UI_PORT=18233
$CLI dev --verifier cuda >"$WORK/dev.log" 2>&1 &
DEV=$!
trap 'kill $DEV 2>/dev/null; wait $DEV 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 120); do grep -q '^ready:' "$WORK/dev.log" && break; sleep 1; done
grep -q '^ready:' "$WORK/dev.log" || fail "dev did not start: $(tail -5 "$WORK/dev.log")"
mkdir -p "$WORK/problems" "$WORK/kernels"
cp $FIX/problems/elementwise_add.py $FIX/problems/tiny_scale.py "$WORK/problems/"
cp $FIX/candidates/add_correct.py "$WORK/kernels/elementwise_add.py"
cp $FIX/candidates/cheat_degenerate.py "$WORK/kernels/tiny_scale.py"
$CLI audit --name gpu-check --problems "$WORK/problems" --kernels "$WORK/kernels" || fail "audit exited $?"
$CLI report gpu-check --out "$WORK/report" 2>"$WORK/report.log" || fail "report: $(cat "$WORK/report.log")"
cat "$WORK/report.log"
# (whether a 4096-element add beats eager is the GPU's business; that it was timed is what is checked)
grep -q '1 of 2 claimed kernels held up; 1 rejected for cheating (degenerate 1); [01] of the 1 timed faster than eager PyTorch' "$WORK/report.log" || fail "unexpected summary line"
echo "audit GPU check: OK"
