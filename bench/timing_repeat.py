#!/usr/bin/env python3
"""Does the verifier's timing repeat? Issue 11's benchmark, for a CUDA host.

Each kernel of ``bench/timing_kernels/`` (Triton) and three CUDA (load_inline) GPU fixtures is verified in
``--runs`` separate verifier runs (a fresh ``python -m verifier serve`` process each time) while
``--busy`` other warm verifiers on the same GPU verify other candidates in a loop, compiling (each of their
sources is new, so nvcc and Triton build every time) and taking the GPU lock as the GPU worker's slots do.
Then each kernel is timed in this process with a reference method: CUDA graphs of ``n`` calls, each after
an L2 flush, less graphs of the ``n`` flushes alone (``triton.testing.do_bench_cudagraph``'s method with
the cold L2 the verifier uses); ``do_bench_cudagraph`` itself (warm L2) is printed beside it.

    python3 bench/timing_repeat.py [--runs 5] [--busy 3] [--out DIR] [--only softsign,layernorm]

Prints a markdown table last: per kernel the verifier's median GPU time over the runs (min..max), the
speedup against eager in each run, max/min of the speedups (target <= 1.05), the reference time and the
difference (target within 5%). Full results: DIR/timing_repeat.json.
"""
from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from verifier.tests.gpu import reference_timing  # noqa: E402
from verifier.tests.gpu.client import WarmVerifier, request  # noqa: E402

KERNELS = ROOT / "bench" / "timing_kernels"
GPU_FIXTURES = ROOT / "verifier" / "tests" / "fixtures" / "gpu"


def kernels() -> list[tuple[str, Path, Path, str]]:
    """(name, problem, candidate, backend)."""
    out = [(p.stem, p, KERNELS / "candidates" / p.name, "triton") for p in sorted((KERNELS / "problems").glob("*.py"))]
    for n in ("axpy", "rowsum", "matmul"):
        out.append((f"{n}_cuda", GPU_FIXTURES / "problems" / f"gpu_{n}.py", GPU_FIXTURES / "candidates" / f"{n}_cuda.py",
                    "cuda"))
    return out


def log(msg: str) -> None:
    print(f"[timing-repeat {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def busy_loop(k: int, data_dir: Path, stop: threading.Event, counts: dict[str, int]) -> None:
    """Another slot of the GPU: verifies fresh sources (a new comment each time, so each builds anew)."""
    v = WarmVerifier("cuda", data_dir)
    pool = itertools.cycle([(GPU_FIXTURES / "problems" / "gpu_axpy.py", GPU_FIXTURES / "candidates" / "axpy_cuda.py", "cuda"),
                            (GPU_FIXTURES / "problems" / "gpu_rowsum.py", GPU_FIXTURES / "candidates" / "rowsum_triton.py", "triton"),
                            (GPU_FIXTURES / "problems" / "gpu_matmul.py", GPU_FIXTURES / "candidates" / "matmul_triton.py", "triton")])
    i = 0
    try:
        while not stop.is_set():
            prob, cand, backend = next(pool)
            i += 1
            src = cand.read_text() + f"\n# busy slot {k}, build {i} {time.time()}\n"
            src = src.replace("name=\"axpy_ext\"", f"name=\"axpy_busy_{k}_{i}\"")
            verdict, _, _ = v.verify(request(prob, src, backend, "cuda"))
            counts[verdict["status"]] = counts.get(verdict["status"], 0) + 1
    finally:
        v.close()


def load_module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def reference_times(data_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Per kernel: the cold-L2 graph method, do_bench_cudagraph (warm L2), eager with the cold-L2 method."""
    import torch
    import triton.testing

    from verifier.candidate.harness import Harness
    from verifier.gpu_lock import GpuLock, gpu_key

    lock = GpuLock(gpu_key(torch))
    torch.backends.cuda.matmul.allow_tf32 = False
    work = Path(tempfile.mkdtemp(prefix="kverify-ref-"))
    h = Harness(torch, "cuda", {"build_cache": str(data_dir / "torch_extensions"), "workdir": str(work)})
    h.install()  # the verifier's extension build cache: CUDA candidates load without a rebuild
    side = torch.cuda.Stream()

    def cold_graph_ms(fn: Any) -> float:
        return reference_timing.cold_graph_ms(torch, fn)

    for row in rows:
        try:
            prob = load_module(Path(row["problem"]), f"refp_{row['name']}")
            shutil.copy(row["candidate"], work / "candidate.py")
            cand = load_module(work / "candidate.py", f"refc_{row['name']}")
            torch.manual_seed(0)
            init = list(prob.get_init_inputs())
            torch.manual_seed(0)
            inputs = [x.cuda() if isinstance(x, torch.Tensor) else x for x in prob.get_inputs()]
            with torch.no_grad():
                torch.manual_seed(0)
                m = cand.ModelNew(*init).cuda()
                ref = prob.Model(*init).cuda()
                lock.acquire("exclusive")
                try:
                    row["ref_ms"] = cold_graph_ms(lambda: m(*inputs))
                    row["ref_eager_ms"] = cold_graph_ms(lambda: ref(*inputs))
                    with torch.cuda.stream(side):
                        row["dobench_cudagraph_ms"] = triton.testing.do_bench_cudagraph(lambda: m(*inputs), rep=100)
                finally:
                    lock.release()
        except Exception as e:  # noqa: BLE001 - a failed reference is reported in its row
            row["ref_error"] = f"{type(e).__name__}: {e}"[:300]
        log(f"reference {row['name']}: {row.get('ref_ms')} ms, eager {row.get('ref_eager_ms')} ms "
            f"(do_bench_cudagraph warm L2 {row.get('dobench_cudagraph_ms')})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--busy", type=int, default=3, help="other slots on the same GPU, verifying in a loop")
    ap.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / ".data" / "timing_repeat"))
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="ks-timing-repeat-"))
    ks = [k for k in kernels() if not args.only or k[0] in args.only.split(",")]
    rows = [{"name": n, "problem": str(p), "candidate": str(c), "backend": b, "runs": []} for n, p, c, b in ks]
    stop = threading.Event()
    counts: dict[str, int] = {}
    busy = [threading.Thread(target=busy_loop, args=(k, data_dir, stop, counts), daemon=True) for k in range(args.busy)]
    for t in busy:
        t.start()
    t0 = time.time()
    try:
        for r in range(args.runs):
            v = WarmVerifier("cuda", data_dir)  # a separate verifier run: a new process, its baselines re-checked
            for row in rows:
                verdict, wall, detail = v.verify(request(Path(row["problem"]), Path(row["candidate"]), row["backend"], "cuda"))
                tm = verdict.get("timing") or {}
                cm = tm.get("candidate_ms") or {}
                row["runs"].append({"status": verdict["status"], "message": verdict["message"][:300], "wall_s": wall,
                                    "median": cm.get("median"), "low": cm.get("low"), "high": cm.get("high"),
                                    "eager_ms": tm.get("eager_ms"), "speedup": tm.get("speedup_vs_eager"),
                                    "speedup_interval": tm.get("speedup_vs_eager_interval"),
                                    "compile_ms": tm.get("compile_ms"), "method": tm.get("method"),
                                    "method_note": tm.get("method_note"), "host_ms": tm.get("host_ms"),
                                    "baseline_cached": detail.get("baseline_cached")})
                log(f"run {r + 1} {row['name']}: {verdict['status']} {cm.get('median')} ms "
                    f"[{cm.get('low')}, {cm.get('high')}] {tm.get('speedup_vs_eager')}x ({tm.get('method')}) {wall:.1f} s")
            v.close()
    finally:
        stop.set()
        for t in busy:
            t.join(timeout=120)
    busy_s = time.time() - t0
    reference_times(data_dir, rows)
    (out / "timing_repeat.json").write_text(json.dumps({"rows": rows, "busy_verdicts": counts, "busy_s": busy_s}, indent=1))
    print(f"\nbusy slots: {args.busy}, their verdicts over {busy_s:.0f} s: {counts}\n")
    print("| kernel | backend | method | verifier median ms (min..max over runs) | 95% interval (run 1) | host ms | "
          "speedup vs eager per run | max/min | reference ms | diff | eager ms (min..max) | reference eager ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        ok = [x for x in row["runs"] if x["status"] == "correct" and x["median"]]
        if not ok:
            print(f"| {row['name']} | {row['backend']} | - | not correct: {row['runs'][0]['message'][:120] if row['runs'] else ''} |")
            continue
        meds = [x["median"] for x in ok]
        sps = [x["speedup"] for x in ok if x["speedup"]]
        eag = [x["eager_ms"] for x in ok if x["eager_ms"]]
        ref = row.get("ref_ms")
        med = sorted(meds)[len(meds) // 2]
        diff = f"{(med / ref - 1) * 100:+.1f}%" if ref else row.get("ref_error", "-")[:60]
        sp_ratio = f"{max(sps) / min(sps):.3f}" if sps else "-"
        print(f"| {row['name']} | {row['backend']} | {ok[0]['method']} | {med:.4f} ({min(meds):.4f}..{max(meds):.4f}) | "
              f"{ok[0]['low']:.4f}..{ok[0]['high']:.4f} | {ok[0]['host_ms']:.3f} | {', '.join(f'{s:.2f}' for s in sps)} | "
              f"{sp_ratio} | {ref if ref is None else f'{ref:.4f}'} | {diff} | "
              f"{min(eag):.4f}..{max(eag):.4f} | {row.get('ref_eager_ms') and round(row['ref_eager_ms'], 4)} |"
              + ("" if len(ok) == len(row["runs"]) else f" ({len(row['runs']) - len(ok)} runs not correct)"))


if __name__ == "__main__":
    main()
