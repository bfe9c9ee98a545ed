#!/usr/bin/env python3
"""How busy is the GPU while a batch of candidates is verified? (issue 3: overlap compilation with
measurement.)

A batch of N distinct candidates (Triton and CUDA `load_inline`, correct, for an elementwise op, a
reduction and a matmul; each made new by a comment inside its kernel, so every one compiles cold) is
verified on GPU 0 by warm verifiers (`python -m verifier serve`) pulling from one queue, as the GPU
worker's slots do:
  - per-gpu 1: one verifier, candidates one after another (compile, then run, then compile ...)
  - per-gpu N > 1: N verifiers sharing the GPU; the verifier's GPU lock lets checks run side by side and
    keeps timing exclusive, so candidates compile while another runs.
Each mode starts on empty caches (Triton, extension builds, references, baselines). nvidia-smi samples
the GPU's utilisation (share of time a kernel was running) every 100 ms during the batch.

    python3 -m verifier.tests.gpu.check_batch --out DIR [--n 20] [--modes 1,2] [--budget-s 540]
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from verifier.sandbox import child_pids_of
from verifier.tests.gpu.client import WarmVerifier, request
from verifier.timing import covered_length

ROOT = Path(__file__).resolve().parents[3]

GPU = ROOT / "verifier" / "tests" / "fixtures" / "gpu"
T0 = time.perf_counter()

# (problem, candidate, backend, anchor in the source where a variant comment goes: inside the kernel)
KINDS = [
    ("gpu_axpy", "axpy_triton", "triton", "    pid = tl.program_id(0)\n"),
    ("gpu_rowsum", "rowsum_triton", "triton", "    row = tl.program_id(0)\n"),
    ("gpu_matmul", "matmul_triton", "triton", "    pid = tl.program_id(0)\n"),
    ("gpu_axpy", "axpy_cuda", "cuda", "#include <ATen/cuda/CUDAContext.h>\n"),
    ("gpu_rowsum", "rowsum_cuda", "cuda", "#include <ATen/cuda/CUDAContext.h>\n"),
]
MIX = [0, 1, 2, 0, 3, 1, 2, 0, 1, 4, 2, 0, 1, 2, 3, 0, 1, 2, 4, 0]  # 14 Triton, 6 CUDA for n = 20


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


def batch(n: int) -> list[dict[str, Any]]:
    items = []
    for i in range(n):
        prob, cand, backend, anchor = KINDS[MIX[i % len(MIX)]]
        src = (GPU / "candidates" / f"{cand}.py").read_text()
        assert anchor in src, (cand, anchor)
        comment = f"    # batch variant {i}\n" if backend == "triton" else f"// batch variant {i}\n"
        items.append({"i": i, "problem": prob, "candidate": cand, "backend": backend,
                      "source": src.replace(anchor, anchor + comment, 1)})
    return items


class Sampler:
    """nvidia-smi utilization.gpu every 100 ms."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self.proc = subprocess.Popen(["nvidia-smi", "-i", os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0],
                                      "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "100"],
                                     stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.samples.append((time.perf_counter(), float(line.strip())))
            except ValueError:
                pass

    def mean(self, t0: float, t1: float) -> tuple[float | None, int]:
        xs = [u for t, u in self.samples if t0 <= t <= t1]
        return (statistics.fmean(xs) if xs else None), len(xs)

    def stop(self) -> None:
        self.proc.terminate()


def gpu_phase_share(rows: list[dict[str, Any]], wall_s: float) -> float | None:
    """Share of the batch's wall time in which at least one verification was past its compile stage
    (reference, correctness or timing work on the GPU, or waiting for the GPU lock): the union of those
    intervals over the batch's wall time."""
    covered = covered_length((r["start"] + sum((r["stages"] or {}).get(k, 0) for k in ("static", "compile")), r["end"])
                             for r in rows)
    return covered / wall_s if wall_s > 0 and rows else None


def _descendants(pids: list[int]) -> list[int]:
    out, todo = [], list(pids)
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(child_pids_of(p))
    return out


def memory_snapshot(service_pids: list[int]) -> dict[str, Any]:
    """Host RSS and GPU memory of the verifier services and everything under them (their candidate
    processes), as the worker's slots hold them between verifications."""
    pids = _descendants(service_pids)
    rss_kb = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                rss_kb += next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            pass
    gpu_mib, gpu_procs = 0, 0
    try:
        q = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                           capture_output=True, text=True, timeout=30).stdout
        for line in q.strip().splitlines():
            pid, mib = (x.strip() for x in line.split(","))
            if int(pid) in pids:
                gpu_mib += int(mib)
                gpu_procs += 1
        if gpu_procs == 0:  # PIDs of another namespace: the whole card's use (only the batch runs on it)
            used = subprocess.run(["nvidia-smi", "-i", "0", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                  capture_output=True, text=True, timeout=30).stdout
            gpu_mib = int(used.strip().splitlines()[0])
    except Exception:  # noqa: BLE001 - no nvidia-smi
        pass
    return {"processes": len(pids), "host_rss_gib": round(rss_kb / 2**20, 2), "gpu_processes": gpu_procs,
            "gpu_gib": round(gpu_mib / 1024, 2)}


def run_mode(per_gpu: int, items: list[dict[str, Any]], sampler: Sampler, deadline: float) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"kverify-batch{per_gpu}-"))
    services = [WarmVerifier("cuda", data_dir) for _ in range(per_gpu)]
    time.sleep(12)  # the services import torch and start their spare candidate processes, as a running worker has
    todo: queue.Queue[dict[str, Any]] = queue.Queue()
    for it in items:
        todo.put(it)
    rows: list[dict[str, Any]] = []

    def lane(k: int) -> None:
        svc = services[k]
        while time.perf_counter() < deadline:
            try:
                it = todo.get_nowait()
            except queue.Empty:
                return
            req = request(GPU / "problems" / f"{it['problem']}.py", it["source"], it["backend"], "cuda",
                          timeout_s=300)
            t = time.perf_counter()
            v, wall, detail = svc.verify(req)
            st = v.get("stages") or {}
            row = {"i": it["i"], "lane": k, "candidate": it["candidate"], "backend": it["backend"],
                   "status": v.get("status"), "wall_s": wall, "start": t - t_batch, "end": time.perf_counter() - t_batch,
                   "stages": st, "lock_wait_s": detail.get("gpu_lock_wait_s"), "reference_s": detail.get("reference_s"),
                   "message": (v.get("message") or "")[:200]}
            rows.append(row)
            log(f"per-gpu {per_gpu} lane {k}: #{it['i']} {it['candidate']} {v.get('status')} {wall:.1f}s "
                f"stages {'/'.join(f'{st.get(x, 0):.1f}' for x in ('static', 'compile', 'correctness', 'timing'))} "
                f"lock wait {row['lock_wait_s']}")

    t_batch = time.perf_counter()
    threads = [threading.Thread(target=lane, args=(k,)) for k in range(per_gpu)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t_end = time.perf_counter()
    time.sleep(8)  # the services refill their candidate processes: measure them as a worker at rest holds them
    memory = memory_snapshot([svc.proc.pid for svc in services])
    log(f"per-gpu {per_gpu}: memory at rest {memory}")
    for svc in services:
        svc.close()
    util, nsamples = sampler.mean(t_batch, t_end)
    walls = {b: [r["wall_s"] for r in rows if r["backend"] == b] for b in ("triton", "cuda")}
    return {"per_gpu": per_gpu, "done": len(rows), "of": len(items), "wall_s": t_end - t_batch,
            "candidates_per_min": 60 * len(rows) / (t_end - t_batch), "gpu_util_mean": util, "samples": nsamples,
            "correct": sum(r["status"] == "correct" for r in rows),
            "gpu_phase": gpu_phase_share(rows, t_end - t_batch),
            "median_wall_triton": statistics.median(walls["triton"]) if walls["triton"] else None,
            "median_wall_cuda": statistics.median(walls["cuda"]) if walls["cuda"] else None,
            "compile_s_sum": sum((r["stages"] or {}).get("compile", 0) for r in rows),
            "lock_wait_s_sum": sum(r["lock_wait_s"] or 0 for r in rows), "memory": memory,
            # time inside a verification outside its stages: waiting for a candidate process, the reference
            "outside_stages_s_sum": sum(r["wall_s"] - sum((r["stages"] or {}).values()) for r in rows),
            "rows": sorted(rows, key=lambda r: r["i"])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / ".data" / "gpu_batch"))
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--modes", default="1,2", help="verifications per GPU to compare")
    ap.add_argument("--budget-s", type=float, default=540.0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import torch

    env = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cpus": os.cpu_count()}
    log(f"env {env}")
    items = batch(args.n)
    modes = [int(m) for m in args.modes.split(",")]
    sampler = Sampler()
    results = []
    for j, m in enumerate(modes):
        left = args.budget_s - (time.perf_counter() - T0)
        deadline = time.perf_counter() + left / (len(modes) - j)
        results.append(run_mode(m, items, sampler, deadline))
        (out / "gpu_batch.json").write_text(json.dumps({"env": env, "results": results}, indent=1, default=str))
    sampler.stop()
    lines = [f"GPU {env['gpu']}, torch {env['torch']}, {env['cpus']} CPU cores; batch of {args.n} candidates, cold caches",
             "", "| verifications per GPU | done | correct | batch wall s | candidates/min | GPU util mean % | "
             "GPU phase % | median wall Triton s | median wall CUDA s | compile s (sum) | GPU-lock wait s (sum) | "
             "outside stages s (sum) | at rest: processes, host RSS GiB, GPU GiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        f = lambda x, nd=1: "–" if x is None else f"{x:.{nd}f}"  # noqa: E731
        lines.append(f"| {r['per_gpu']} | {r['done']}/{r['of']} | {r['correct']} | {f(r['wall_s'])} | "
                     f"{f(r['candidates_per_min'])} | {f(r['gpu_util_mean'])} | "
                     f"{f(None if r['gpu_phase'] is None else 100 * r['gpu_phase'])} | {f(r['median_wall_triton'])} | "
                     f"{f(r['median_wall_cuda'])} | {f(r['compile_s_sum'])} | {f(r['lock_wait_s_sum'])} | "
                     f"{f(r['outside_stages_s_sum'])} | {r['memory']['processes']}, {r['memory']['host_rss_gib']}, "
                     f"{r['memory']['gpu_gib']} ({r['memory']['gpu_processes']} on the GPU) |")
    text = "\n".join(lines)
    (out / "gpu_batch.md").write_text(text + "\n")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
