"""Timing: CUDA events with an L2 flush between trials (GPU) and perf_counter (CPU interpreter mode).

``Clock`` captures the timing functions when it is made, which the runner does before the candidate is
imported, so a candidate that patches ``torch.cuda.Event`` or ``time.perf_counter`` changes nothing here.
The same code times the candidate (in its process) and the eager / torch.compile baselines (in the parent).
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterable, Sequence

FLUSH_BYTES = 256 * 1024 * 1024  # >= 256 MB, the same as triton.testing.do_bench
# DESIGN.md: at least 100 trials; 0.3 s of trials beyond that (do_bench's default is 0.1 s). The candidate
# (``stages.timing`` asks its process for them) and the baselines (``baselines.measure``) get the same budget.
TIMING_MIN_TRIALS = 100
TIMING_TARGET_S = 0.3
# side-stream verdict (``stages.timing``): hidden work must exceed FACTOR x the regular median + SLACK. The
# launch-stream check is the precise one; this catches work that escapes it (e.g. streams switched only
# after the correctness calls). On the H100 the estimate (fastest synchronised trial less the fastest
# synchronize alone) matched the regular median within 2 us for 11 correct verifications
# (docs/benchmarks.md), so 15 us of slack leaves a wide margin; the earlier 50 us let a small kernel hide
# nearly all of its work.
SIDE_STREAM_FACTOR = 1.5
SIDE_STREAM_SLACK_MS = 0.015
# side-stream cross-check: another round of synchronised trials when the work they see exceeds this
# (below the verdict's own threshold above, so a borderline round is always measured again)
SYNCED_ROUNDS = 3
SUSPECT_FACTOR = 1.2
SUSPECT_SLACK_MS = 0.01


def quantile(sorted_vals: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, as do_bench uses)."""
    if not sorted_vals:
        return float("nan")
    pos = (len(sorted_vals) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def covered_length(spans: Iterable[tuple[float, float]]) -> float:
    """The length of the union of ``[start, end]`` intervals (overlaps count once)."""
    total, end = 0.0, None
    for s0, s1 in sorted(spans):
        if end is None or s0 >= end:
            total += s1 - s0
            end = s1
        elif s1 > end:
            total += s1 - end
            end = s1
    return total


def summarize(times_ms: Sequence[float]) -> dict[str, Any]:
    s = sorted(times_ms)
    return {"median": quantile(s, 0.5), "p20": quantile(s, 0.2), "p80": quantile(s, 0.8),
            "min": s[0] if s else None, "trials": len(s)}


class Clock:
    def __init__(self, torch: Any):
        self.torch = torch
        self.perf = time.perf_counter
        if torch.cuda.is_available():
            self.Event = torch.cuda.Event
            self.record = torch.cuda.Event.record
            self.elapsed = torch.cuda.Event.elapsed_time
            self.sync = torch.cuda.synchronize
            self.zero_ = torch.Tensor.zero_
        else:
            self.Event = None

    # -- GPU --------------------------------------------------------------------------------------
    def bench_cuda(self, fns: Sequence[Callable[[], Any]], min_trials: int = 100, target_s: float = 1.0,
                   max_trials: int = 5000, side_stream_trials: int = 25,
                   checked: Sequence[Callable[[], Any]] | None = None) -> dict[str, Any]:
        """do_bench-style timing over ``fns`` (one per input set, used round-robin).

        Each trial: flush L2 by zeroing a 256 MB buffer, record start, call, record end (same stream).
        Then a cross-check: a few trials with a device-wide synchronize before the end event; work hidden
        on another stream shows up there and not in the regular trials.
        ``checked``: the same calls with the caller's checks around them (the harness checks the stream of
        every launch), used for the warm-up and the cross-check, not for the regular trials.
        Returns summary stats plus the last output of each fn (for checking timed results).
        """
        torch = self.torch
        flush = torch.empty(FLUSH_BYTES // 4, dtype=torch.int32, device="cuda")
        n = len(fns)
        checked = checked or fns
        last: list[Any] = [None] * n
        # warm-up: every input set once, then up to ~25 ms more
        self.sync()
        t0 = self.perf()
        k = 0
        while k < max(3, n) or (self.perf() - t0 < 0.025 and k < 100):
            last[k % n] = checked[k % n]()
            k += 1
        self.sync()
        # estimate one trial
        est_s, est_e = self.Event(enable_timing=True), self.Event(enable_timing=True)
        self.record(est_s)
        for i in range(5):
            self.zero_(flush)
            last[i % n] = fns[i % n]()
        self.record(est_e)
        self.sync()
        est_ms = max(self.elapsed(est_s, est_e) / 5, 1e-4)
        trials = int(target_s * 1000 / est_ms)
        if est_ms * min_trials <= 3000:
            trials = max(trials, min_trials)
        trials = max(10, min(trials, max_trials))
        starts = [self.Event(enable_timing=True) for _ in range(trials)]
        ends = [self.Event(enable_timing=True) for _ in range(trials)]
        for i in range(trials):
            self.zero_(flush)
            self.record(starts[i])
            last[i % n] = fns[i % n]()
            self.record(ends[i])
        self.sync()
        times = [self.elapsed(s, e) for s, e in zip(starts, ends)]
        out = summarize(times)
        # side-stream cross-check: the same trial on an idle GPU, with the end event recorded only after a
        # device-wide synchronize, which waits for every stream. The host's time inside the call is taken
        # off: until the call has launched its work the GPU can only wait (a slow launch on a busy host is
        # not hidden work), and the GPU cannot start work before it is launched, so an honest call comes
        # to about its regular time while work hidden on another stream adds all of its own. (An earlier
        # form let the GPU spin 1 ms before the start event instead: work on another stream ran during the
        # spin and was never seen, found on the H100.) What the synchronize adds is measured with a no-op.
        m = min(side_stream_trials, max(5, trials))

        def synced_trials(f: Callable[[int], Any]) -> tuple[list[float], list[float]]:
            beyond_call_ms, host_ms = [], []
            for i in range(m):
                self.sync()
                self.zero_(flush)  # noqa: F821 - bound above; ruff reads the later ``del flush`` as unbinding it
                self.sync()
                s, e = self.Event(enable_timing=True), self.Event(enable_timing=True)
                h0 = self.perf()
                self.record(s)
                f(i)
                h1 = self.perf()
                self.sync()
                self.record(e)
                self.sync()
                host_ms.append((self.perf() - h0) * 1000)
                beyond_call_ms.append(self.elapsed(s, e) - (h1 - h0) * 1000)
            return beyond_call_ms, host_ms

        def run_i(i: int) -> None:
            last[i % n] = checked[i % n]()

        # minima, not medians: a busy host only ever adds time (a late wake-up from the synchronize), while
        # work on another stream is there in every trial, the fastest included. When a round looks like
        # hidden work, up to two more are run and the fastest trials of all rounds count: with four
        # verifications compiling on the host, one round of a correct kernel read 3x its median (H100).
        synced: list[Any]
        host: list[Any]
        noop: list[Any]
        synced, host, noop = [], [], []
        rounds = 0
        while rounds < SYNCED_ROUNDS:
            rounds += 1
            s_ms, h_ms = synced_trials(run_i)
            n_ms, _ = synced_trials(lambda i: None)
            synced, host, noop = synced + s_ms, host + h_ms, noop + n_ms
            if min(synced) - min(noop) <= SUSPECT_FACTOR * out["median"] + SUSPECT_SLACK_MS:
                break
        out["synced_rounds"] = rounds
        out["synced_median"] = summarize(synced)["median"]
        out["sync_overhead_ms"] = summarize(noop)["median"]
        out["synced_min"] = min(synced)
        out["sync_overhead_min"] = min(noop)
        out["hidden_ms"] = max(0.0, out["synced_min"] - out["sync_overhead_min"])
        out["host_median"] = summarize(host)["median"]
        out["estimate_ms"] = est_ms
        out["last_outputs"] = last
        del flush
        return out

    # -- CPU --------------------------------------------------------------------------------------
    def bench_cpu(self, fns: Sequence[Callable[[], Any]], max_trials: int = 5, target_s: float = 1.0) -> dict[str, Any]:
        n = len(fns)
        last: list[Any] = [None] * n
        times = []
        t_all = self.perf()
        i = 0
        while i < max_trials and (i < 2 or self.perf() - t_all < target_s):
            t0 = self.perf()
            last[i % n] = fns[i % n]()
            times.append((self.perf() - t0) * 1000)
            i += 1
        out = summarize(times)
        out["last_outputs"] = last
        return out
