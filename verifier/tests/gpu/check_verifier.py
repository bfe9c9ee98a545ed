#!/usr/bin/env python3
"""Check the verifier on a CUDA machine, end to end, and print a short markdown report.

Verifications go through warm verifiers (`python -m verifier serve`, one per thread, as the GPU worker
keeps one per slot); `--oneshot` uses `python -m verifier verify` per candidate instead.

What it does (one call, everything under a time budget):
  1. cold pass: correct Triton and CUDA (load_inline) candidates for an elementwise op, a reduction and a
     matmul, each verified (device cuda) on empty caches (Triton cache, extension build cache, reference,
     baselines)
  2. warm pass: the same verifications again, caches warm
  3. timing cross-check: each candidate (and the eager reference) timed in this process with
     the reference method of verifier/tests/gpu/reference_timing.py (do_bench_cudagraph's, cold L2),
     compared with the verifier's median (target: within 5%)
  4. cheats on the GPU: GPU-only cheat fixtures (hidden side stream, CUDA stale output, CUDA
     uninitialised read, CUDA torch-fallback hidden from the static check, a CUDA compile error) and a
     selection of the CPU fixtures; each must get its expected status and class
  5. whether the candidate's process runs in a network namespace with CUDA working (VERIFIER_NETNS=1)

    python3 -m verifier.tests.gpu.check_verifier [--out DIR] [--budget-s 540] [--cpu-dry-run]

--cpu-dry-run exercises this script's own flow on a machine without a GPU (small CPU fixtures, no CUDA
backend, no do_bench). Full results go to DIR/gpu_check.json and DIR/gpu_check.md.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
FIX = ROOT / "verifier" / "tests" / "fixtures"
GPU = FIX / "gpu"
T0 = time.perf_counter()


def P(kind: str, name: str) -> Path:
    if kind == "gp":
        return GPU / "problems" / f"{name}.py"
    if kind == "gc":
        return GPU / "candidates" / f"{name}.py"
    if kind == "p":
        return FIX / "problems" / f"{name}.py"
    return FIX / "candidates" / f"{name}.py"


CORRECT = [
    ("gpu_axpy", "axpy_triton", "triton"),
    ("gpu_axpy", "axpy_cuda", "cuda"),
    ("gpu_rowsum", "rowsum_triton", "triton"),
    ("gpu_rowsum", "rowsum_cuda", "cuda"),
    ("gpu_matmul", "matmul_triton", "triton"),
    ("gpu_matmul", "matmul_cuda", "cuda"),
]

# (problem, candidate, backend, expected status, expected classes: all must be present)
CHEATS = [
    (P("gp", "gpu_axpy"), P("gc", "cheat_side_stream_hidden"), "triton", "rejected", {"side-stream"}),
    (P("gp", "gpu_axpy"), P("gc", "cheat_side_stream_late"), "triton", "rejected", {"side-stream"}),
    (P("gp", "gpu_axpy"), P("gc", "cheat_cuda_side_stream"), "cuda", "rejected", {"side-stream"}),
    (P("gp", "gpu_axpy"), P("gc", "cheat_cuda_stale"), "cuda", "rejected", {"stale-output"}),
    (P("gp", "gpu_axpy"), P("gc", "cheat_cuda_uninit"), "cuda", "rejected", {"uninitialised-read"}),
    (P("gp", "gpu_matmul"), P("gc", "cheat_cuda_fallback_hidden"), "cuda", "rejected", {"torch-fallback"}),
    (P("gp", "gpu_axpy"), P("gc", "cuda_compile_error"), "cuda", "compile_error", set()),
    (P("p", "elementwise_add"), P("c", "cheat_stale_output"), "triton", "rejected", {"stale-output"}),
    (P("p", "elementwise_add"), P("c", "cheat_partial_output"), "triton", "rejected", {"partial-output"}),
    (P("p", "elementwise_add"), P("c", "cheat_uninitialised_read"), "triton", "rejected", {"uninitialised-read"}),
    (P("p", "elementwise_add"), P("c", "cheat_caching"), "triton", "rejected", {"caching"}),
    (P("p", "elementwise_add"), P("c", "cheat_caching_late"), "triton", "rejected", {"caching"}),
    (P("p", "elementwise_add"), P("c", "cheat_input_mutation"), "triton", "rejected", {"input-mutation"}),
    (P("p", "elementwise_add"), P("c", "cheat_threads_dynamic"), "triton", "rejected", {"threads"}),
    (P("p", "elementwise_add"), P("c", "cheat_lazy_tensor"), "triton", "rejected", {"lazy-tensor"}),
    (P("p", "elementwise_add"), P("c", "cheat_fallback_no_kernel"), "triton", "rejected", {"torch-fallback"}),
    (P("p", "tiny_scale"), P("c", "cheat_degenerate"), "triton", "rejected", {"degenerate"}),
    (P("p", "linear"), P("c", "linear_fallback_dynamic"), "triton", "rejected", {"torch-fallback"}),
    (P("p", "elementwise_add"), P("c", "add_correct"), "triton", "correct", set()),
    (P("p", "linear"), P("c", "linear_correct"), "triton", "correct", set()),
    (P("p", "elementwise_add"), P("c", "add_compile_error"), "triton", "compile_error", set()),
    (P("p", "elementwise_add"), P("c", "add_segfault"), "triton", "runtime_error", set()),
]

DRY_CORRECT = [("elementwise_add", "add_correct", "triton"), ("row_sum", "rowsum_loop", "triton")]


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


ONESHOT = False
_local = threading.local()
_services: list[Any] = []


def verify(prob: Path, cand: Path, backend: str, device: str, data_dir: Path, env_extra: dict[str, str] | None = None,
           timeout_s: float = 300, seeds: list[int] | None = None) -> tuple[dict[str, Any], float, str]:
    from verifier.tests.gpu.client import WarmVerifier, request

    req = request(prob, cand, backend, device, timeout_s, seeds)
    if not ONESHOT:
        key = json.dumps(env_extra or {}, sort_keys=True)
        services = getattr(_local, "services", None)
        if services is None:
            services = _local.services = {}
        if key not in services:
            services[key] = WarmVerifier(device, data_dir, env_extra=env_extra)
            _services.append(services[key])
        svc = services[key]
        v, wall, detail = svc.verify(req)
        v["_detail"] = detail
        return v, wall, svc.stderr_tail[-3000:]
    env = dict(os.environ)
    env["VERIFIER_DATA_DIR"] = str(data_dir)
    env["VERIFIER_DEBUG"] = "1"
    env.update(env_extra or {})
    t = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, "-m", "verifier", "verify"], input=json.dumps(req), capture_output=True,
                           text=True, cwd=ROOT, env=env, timeout=timeout_s + 900)
        out, err = r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        out, err = "", f"verifier did not return: {e}"
    wall = time.perf_counter() - t
    try:
        v = json.loads(out.strip().splitlines()[-1])
    except Exception:  # noqa: BLE001
        v = {"status": "NO-VERDICT", "message": err[-2000:], "cheats": [], "stages": {}, "timing": None}
    for line in err.splitlines():
        if line.startswith("[verifier-detail] "):
            try:
                v["_detail"] = json.loads(line[len("[verifier-detail] "):])
            except json.JSONDecodeError:
                pass
    err = "\n".join(ln for ln in err.splitlines() if not ln.startswith("[verifier-detail] "))
    return v, wall, err[-3000:]


def stages_text(v: dict[str, Any]) -> str:
    s = v.get("stages") or {}
    return "/".join(f"{s.get(k, 0):.1f}" for k in ("static", "compile", "correctness", "timing"))


def load_module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def do_bench_rows(data_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Time each candidate and its reference in this process with the reference method
    (``reference_timing.cold_graph_ms``: do_bench_cudagraph's, cold L2)."""
    import torch

    from verifier.candidate.harness import Harness
    from verifier.gpu_lock import GpuLock, gpu_key
    from verifier.tests.gpu import reference_timing

    lock = GpuLock(gpu_key(torch))  # exclusive, as the verifier's timing: other processes start on this GPU
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    work = Path(tempfile.mkdtemp(prefix="kverify-dobench-"))
    h = Harness(torch, "cuda", {"build_cache": str(data_dir / "torch_extensions"), "workdir": str(work)})
    h.install()  # the same extension build cache (so CUDA candidates load without a rebuild)
    eager_done: dict[str, float] = {}
    for row in rows:
        try:
            prob = load_module(P("gp", row["problem"]), f"dbp_{row['problem']}")
            shutil.copy(P("gc", row["candidate"]), work / "candidate.py")
            cand = load_module(work / "candidate.py", f"dbc_{row['candidate']}")
            torch.manual_seed(0)
            init = list(prob.get_init_inputs())
            torch.manual_seed(0)
            inputs = [x.cuda() if isinstance(x, torch.Tensor) else x for x in prob.get_inputs()]
            with torch.no_grad():
                torch.manual_seed(0)
                m = cand.ModelNew(*init).cuda()
                lock.acquire("exclusive")
                row["dobench_ms"] = reference_timing.cold_graph_ms(torch, lambda: m(*inputs))
                if row["problem"] not in eager_done:
                    ref = prob.Model(*init).cuda()
                    eager_done[row["problem"]] = reference_timing.cold_graph_ms(torch, lambda: ref(*inputs))
                lock.release()
            row["dobench_eager_ms"] = eager_done[row["problem"]]
        except Exception as e:  # noqa: BLE001
            lock.release()
            row["dobench_error"] = f"{type(e).__name__}: {e}"[:300]
        log(f"do_bench {row['candidate']}: {row.get('dobench_ms')} ms (eager {row.get('dobench_eager_ms')})")


def pct(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "n/a"
    return f"{100.0 * (a - b) / b:+.1f}%"


def fmt(x: Any, nd: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - one report, section after section
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / ".data" / "gpu_check"))
    ap.add_argument("--budget-s", type=float, default=540.0)
    ap.add_argument("--cpu-dry-run", action="store_true")
    ap.add_argument("--workers", type=int, default=3, help="cheat fixtures verified at once")
    ap.add_argument("--oneshot", action="store_true", help="one `python -m verifier verify` process per candidate")
    ap.add_argument("--parallel-cheats", action="store_true",
                    help="verify the cheat fixtures during the cold pass (faster; perturbs the cold timings)")
    args = ap.parse_args(argv)
    global ONESHOT
    ONESHOT = args.oneshot
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dry = args.cpu_dry_run
    device = "cpu" if dry else "cuda"
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "command": " ".join([sys.executable] + sys.argv)}

    # ---- environment ----
    import torch

    if not dry and not torch.cuda.is_available():
        print("no CUDA: run with --cpu-dry-run on a machine without a GPU")
        return 0
    env: dict[str, Any] = {"torch": torch.__version__, "python": sys.version.split()[0]}
    try:
        import triton

        env["triton"] = triton.__version__
    except Exception:  # noqa: BLE001
        env["triton"] = None
    if not dry:
        env["gpu"] = torch.cuda.get_device_name(0)
        env["cuda"] = torch.version.cuda
        env["capability"] = list(torch.cuda.get_device_capability(0))
        try:
            env["nvcc"] = subprocess.run(["nvcc", "--version"], capture_output=True, text=True).stdout.strip().splitlines()[-1]
        except Exception:  # noqa: BLE001
            env["nvcc"] = None
        try:
            env["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                           capture_output=True, text=True).stdout.strip()
        except Exception:  # noqa: BLE001
            env["driver"] = None
    env["cpus"] = os.cpu_count()
    report["env"] = env
    log(f"env: {env}")

    base = Path(tempfile.mkdtemp(prefix="kverify-gpucheck-"))
    data_dir = base / "data"
    correct = DRY_CORRECT if dry else CORRECT
    rows: list[dict[str, Any]] = []

    def save() -> None:
        (out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))

    # ---- 4 (started first, in the background): cheats ----
    cheat_rows: list[dict[str, Any]] = []
    cheats = [c for c in CHEATS if c[2] == "triton" and c[0].parent.parent.name != "gpu"] if dry else CHEATS

    def one(c: tuple) -> dict[str, Any]:
        prob, cand, backend, want_status, want = c
        if time.perf_counter() - T0 > args.budget_s * 0.8:
            return {"candidate": cand.stem, "backend": backend, "expected": want_status, "status": "SKIPPED (budget)",
                    "classes": [], "ok": False, "wall_s": 0.0, "message": ""}
        v, wall, err = verify(prob, cand, backend, device, data_dir, timeout_s=120, seeds=[0, 1] if dry else None)
        got = {x["class"] for x in v.get("cheats", [])}
        ok = v.get("status") == want_status and want <= got
        r = {"candidate": cand.stem, "backend": backend,
             "expected": want_status + (f" ({', '.join(sorted(want))})" if want else ""),
             "status": v.get("status"), "classes": sorted(got), "ok": ok, "wall_s": wall,
             "message": v.get("message", "")[:600]}
        if not ok:
            r["stderr_tail"] = err[-1500:]
        log(f"cheat {cand.stem}: {'OK ' if ok else 'BAD'} {v.get('status')} {sorted(got)} in {wall:.1f}s | "
            f"{v.get('message', '')[:200]!r}")
        return r

    ex = cf.ThreadPoolExecutor(max_workers=args.workers)
    cheat_futures = [ex.submit(one, c) for c in cheats] if args.parallel_cheats else []

    # ---- 1 + 2: cold and warm passes ----
    for phase in ("cold", "warm"):
        if phase == "warm" and cheat_futures:
            log("waiting for the cheat fixtures before the warm pass (clean timings)")
            cheat_rows = [f.result() for f in cheat_futures]
            report["cheats"] = cheat_rows
            save()
        for pname, cname, backend in correct:
            if time.perf_counter() - T0 > args.budget_s * (0.7 if phase == "cold" else 0.88):
                log(f"budget: skipping {phase} {cname}")
                continue
            prob = P("p", pname) if dry else P("gp", pname)
            cand = P("c", cname) if dry else P("gc", cname)
            v, wall, err = verify(prob, cand, backend, device, data_dir)
            if phase == "cold":
                rows.append({"problem": pname, "candidate": cname, "backend": backend})
            row = next(r for r in rows if r["candidate"] == cname)
            row[phase] = {"status": v.get("status"), "wall_s": wall, "stages": v.get("stages"), "timing": v.get("timing"),
                          "message": v.get("message", "")[:400], "cheats": v.get("cheats"), "detail": v.get("_detail"),
                          "env": v.get("env")}
            if v.get("status") != "correct":
                row[phase]["stderr_tail"] = err[-1500:]
            t = v.get("timing") or {}
            log(f"{phase} {cname}: {v.get('status')} in {wall:.1f}s stages {stages_text(v)} "
                f"median {(t.get('candidate_ms') or {}).get('median')} eager {t.get('eager_ms')} "
                f"compile {t.get('compile_ms')} | detail {json.dumps({k: (v.get('_detail') or {}).get(k) for k in ('reference_s', 'synced_median_ms', 'sync_overhead_ms', 'host_median_ms', 'baseline_cached')})} "
                f"| {v.get('message', '')[:160]!r}")
            report["correct"] = rows
            save()

    # ---- 3: do_bench cross-check ----
    if not dry and time.perf_counter() - T0 < args.budget_s * 0.93:
        do_bench_rows(data_dir, rows)
        save()

    # ---- 4: cheats, when not run in the background: those whose verdict rests on timing (they reach the
    # timing stage) run one at a time afterwards, the rest several at once ----
    if not args.parallel_cheats:
        timed = [c for c in cheats if c[3] == "correct" or "side-stream" in c[4] or "caching_late" in c[1].stem]
        rest = [c for c in cheats if c not in timed]
        by_name = {c[1].stem: r for c, r in zip(rest, ex.map(one, rest))}
        for c in timed:
            by_name[c[1].stem] = one(c)
        cheat_rows = [by_name[c[1].stem] for c in cheats]
        report["cheats"] = cheat_rows
        save()
    ex.shutdown()

    # ---- 5: network namespace with CUDA ----
    if not dry and time.perf_counter() - T0 < args.budget_s * 0.95:
        v, wall, err = verify(P("gp", "gpu_axpy"), P("gc", "axpy_triton"), "triton", device, data_dir,
                              env_extra={"VERIFIER_NETNS": "1"})
        report["netns"] = {"status": v.get("status"), "network_isolated": (v.get("env") or {}).get("network_isolated"),
                           "filesystem_readonly": (v.get("env") or {}).get("filesystem_readonly"),
                           "message": v.get("message", "")[:300], "stderr_tail": err[-800:] if v.get("status") != "correct" else ""}
        log(f"netns: {report['netns']}")
        save()

    # ---- report ----
    md = [f"GPU: {env.get('gpu', 'none (dry run)')}, torch {env['torch']}, triton {env.get('triton')}, "
          f"CUDA {env.get('cuda')}, {env.get('nvcc') or ''}, driver {env.get('driver')}", ""]
    md.append("| problem | backend | cold status | cold wall s | cold stages s (static/compile/correct/timing) | "
              "warm wall s | warm stages s | verifier median ms | do_bench median ms | diff | eager ms (verifier / do_bench) "
              "| torch.compile ms | speedup vs eager / compile |")
    md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c, w = r.get("cold", {}), r.get("warm", {})
        wt = w.get("timing") or c.get("timing") or {}
        med = (wt.get("candidate_ms") or {}).get("median")
        sp = f"{fmt(wt.get('speedup_vs_eager'), 2)} / {fmt(wt.get('speedup_vs_compile'), 2)}"
        md.append(f"| {r['problem']} | {r['backend']} | {c.get('status')} | {fmt(c.get('wall_s'), 1)} | "
                  f"{stages_text(c) if c else '–'} | {fmt(w.get('wall_s'), 1)} | {stages_text(w) if w else '–'} | "
                  f"{fmt(med)} | {fmt(r.get('dobench_ms'))} | {pct(med, r.get('dobench_ms'))} | "
                  f"{fmt(wt.get('eager_ms'))} / {fmt(r.get('dobench_eager_ms'))} | {fmt(wt.get('compile_ms'))} | {sp} |")
    md.append("")
    md.append("| cheat fixture | backend | expected | got | classes | ok | wall s |")
    md.append("|---|---|---|---|---|---|---|")
    for r in cheat_rows:
        md.append(f"| {r['candidate']} | {r['backend']} | {r['expected']} | {r['status']} | {', '.join(r['classes']) or '–'} "
                  f"| {'yes' if r['ok'] else 'NO'} | {r['wall_s']:.1f} |")
    if "netns" in report:
        md.append("")
        md.append(f"network namespace (VERIFIER_NETNS=1): status {report['netns']['status']}, "
                  f"network_isolated {report['netns']['network_isolated']}, "
                  f"filesystem_readonly {report['netns'].get('filesystem_readonly')}")
    # how the correct candidates' processes ran: outputs through CUDA IPC (else the results file), confined
    runs = [r[ph] for r in rows for ph in ("cold", "warm") if ph in r]
    count = lambda f: f"{sum(1 for x in runs if f(x))}/{len(runs)}"  # noqa: E731
    md.append("")
    md.append(f"correct candidates' verifications: outputs via CUDA IPC {count(lambda x: (x.get('detail') or {}).get('cuda_ipc'))}, "
              f"network isolated {count(lambda x: (x.get('env') or {}).get('network_isolated'))}, "
              f"filesystem read-only {count(lambda x: (x.get('env') or {}).get('filesystem_readonly'))}")
    why_not = {(x.get("detail") or {}).get("cuda_ipc_why_not") for x in runs} - {None}
    if why_not:
        md.append(f"why not CUDA IPC: {'; '.join(sorted(why_not))}")
    md.append("")
    md.append(f"total {time.perf_counter() - T0:.0f} s ({'one-shot verify per candidate' if ONESHOT else 'warm verifiers'})")
    for svc in _services:
        svc.close()
    text = "\n".join(md)
    (out / "gpu_check.md").write_text(text + "\n")
    save()
    print("\n" + text)
    bad = [r for r in cheat_rows if not r["ok"]] + [r for r in rows if (r.get("cold") or {}).get("status") != "correct"]
    if not dry and runs and not all((x.get("detail") or {}).get("cuda_ipc") for x in runs):
        bad.append({"what": "outputs did not all come through CUDA IPC"})
    if runs and not all((x.get("env") or {}).get("filesystem_readonly") for x in runs):
        bad.append({"what": "not every candidate process ran on a read-only filesystem"})
    for b in bad:
        if "what" in b:
            print("NOT OK:", b["what"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
