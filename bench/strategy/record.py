#!/usr/bin/env python3
"""Verify every variant of the strategy benchmark once on a GPU (bench/strategy/variants.py) and keep the
verdicts: the stand-in model's world. bench/strategy.ts then replays searches over them, on any machine.

Verifications go through warm verifiers (``python -m verifier serve``), ``--slots`` of them on one GPU
sharing one data directory, so that only one times at a time (the GPU lock), as the GPU worker's slots do.

    python3 bench/strategy/record.py --out bench/strategy/recorded [--slots 4] [--budget-s 300] [--problem ID]

Writes OUT/<problem>.jsonl (one line per variant: key, family, params, broken, source, the full verdict, the wall
time) and OUT/env.json (GPU, versions, date), and prints a table per problem last.
"""
from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import variants as V  # noqa: E402

from verifier.tests.gpu.client import WarmVerifier, request  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--budget-s", type=float, default=300)
    ap.add_argument("--problem")
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    todo: queue.Queue[dict[str, Any]] = queue.Queue()
    for v in V.variants(a.problem):
        todo.put(v)
    total = todo.qsize()
    results: dict[str, list[dict[str, Any]]] = {}
    lock = threading.Lock()
    t0 = time.time()
    data = Path(tempfile.mkdtemp(prefix="ks-strategy-"))

    def slot(k: int) -> None:
        ver = WarmVerifier(a.device, data)
        try:
            while time.time() - t0 < a.budget_s:
                try:
                    v = todo.get_nowait()
                except queue.Empty:
                    return
                problem = V.PROBLEMS_DIR / f"{v['problem']}.py"
                verdict, wall, _ = ver.verify(request(problem, v["source"], "triton", a.device, timeout_s=240))
                row = {k2: v[k2] for k2 in ("key", "family", "params", "broken", "source")} | {"verdict": verdict, "wall_s": wall}
                with lock:
                    results.setdefault(v["problem"], []).append(row)
                    done = sum(len(r) for r in results.values())
                t = verdict.get("timing") or {}
                med = (t.get("candidate_ms") or {}).get("median")
                print(f"[record {time.time() - t0:5.0f}s {done}/{total}] slot {k} {v['key']}: {verdict.get('status')}"
                      f"{f' {med:.4f} ms' if med else ''}", file=sys.stderr, flush=True)
        finally:
            ver.close()

    threads = [threading.Thread(target=slot, args=(k,)) for k in range(a.slots)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for problem, rows in results.items():
        rows.sort(key=lambda r: r["key"])
        (out / f"{problem}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {"date": time.strftime("%Y-%m-%d"), "variants": total, "recorded": sum(len(r) for r in results.values()),
           "wall_s": round(time.time() - t0, 1)}
    try:
        env["gpu"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                                    capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        env["gpu"] = None
    first = next((r["verdict"] for rows in results.values() for r in rows), {})
    env["versions"] = {k: (first.get("env") or {}).get(k) for k in ("torch", "triton", "cuda", "driver")}
    (out / "env.json").write_text(json.dumps(env, indent=1) + "\n")
    print(f"\n{env['recorded']}/{total} variants in {env['wall_s']} s on {env['gpu']}")
    print("| problem | variants | correct | other verdicts | fastest ms | slowest correct ms |")
    print("|---|---|---|---|---|---|")
    for problem, rows in sorted(results.items()):
        ok = [r for r in rows if r["verdict"].get("status") == "correct"]
        ms = sorted(((r["verdict"].get("timing") or {}).get("candidate_ms") or {}).get("median") or 0 for r in ok)
        ms = [m for m in ms if m > 0]
        other: dict[str, int] = {}
        for r in rows:
            if r["verdict"].get("status") != "correct":
                other[r["verdict"].get("status", "?")] = other.get(r["verdict"].get("status", "?"), 0) + 1
        print(f"| {problem} | {len(rows)} | {len(ok)} | {', '.join(f'{k} {n}' for k, n in sorted(other.items())) or '-'} "
              f"| {ms[0] if ms else float('nan'):.4f} | {ms[-1] if ms else float('nan'):.4f} |")
    return 0 if env["recorded"] == total else 1


if __name__ == "__main__":
    raise SystemExit(main())
