#!/usr/bin/env python3
"""Several GPUs, one verification per GPU at a time, as the GPU worker schedules them
(activities/verifyKernel.ts + activities/slots.ts): a queue of verifications, one lane per GPU, each
verifier process pinned with CUDA_VISIBLE_DEVICES. Samples nvidia-smi while it runs and prints, per GPU,
how many verifications it ran, whether two ever overlapped on it, and how busy it was.

The device machines have no Node, so this drives the Python verifier directly with the worker's
scheduling rule rather than through Temporal; the Temporal side of the same rule is tested on the CPU
(test/campaign.test.ts: slots recorded, no overlap, every slot used).

    python3 -m verifier.tests.gpu.check_slots [--copies 4]
"""
import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
FIX = os.path.join(ROOT, "verifier", "tests", "fixtures", "gpu")
PAIRS = [("gpu_axpy", "axpy_triton"), ("gpu_rowsum", "rowsum_triton"), ("gpu_matmul", "matmul_triton")]


def read(*parts: str) -> str:
    with open(os.path.join(*parts)) as f:
        return f.read()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=4, help="verifications of each (problem, candidate) pair")
    args = ap.parse_args(argv)
    gpus = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True)
    slots = [g.strip() for g in gpus.stdout.split("\n") if g.strip()]
    if not slots:
        print("no GPU: nothing to check")
        return 0
    jobs: "queue.Queue[tuple[str, str]]" = queue.Queue()
    for _ in range(args.copies):
        for pair in PAIRS:
            jobs.put(pair)
    runs: list[dict] = []
    lock = threading.Lock()

    util: dict[str, list[int]] = {s: [] for s in slots}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            out = subprocess.run(["nvidia-smi", "--query-gpu=index,utilization.gpu", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True).stdout
            for line in out.strip().split("\n"):
                idx, u = [x.strip() for x in line.split(",")]
                if idx in util:
                    util[idx].append(int(u))
            time.sleep(0.2)

    def lane(slot: str) -> None:
        while True:
            try:
                problem, cand = jobs.get_nowait()
            except queue.Empty:
                return
            req = {"problem_id": problem, "problem_source": read(FIX, "problems", problem + ".py"),
                   "candidate_source": read(FIX, "candidates", cand + ".py"), "backend": "triton", "device": "cuda",
                   "timeout_s": 300}
            env = dict(os.environ, CUDA_VISIBLE_DEVICES=slot, PYTHONUNBUFFERED="1")
            t0 = time.time()
            res = subprocess.run([sys.executable, "-m", "verifier", "verify"], cwd=ROOT, input=json.dumps(req),
                                 capture_output=True, text=True, env=env)
            t1 = time.time()
            try:
                v = json.loads(res.stdout)
            except json.JSONDecodeError:
                v = {"status": "no verdict", "env": {}}
            with lock:
                runs.append({"slot": slot, "problem": problem, "status": v["status"], "start": t0, "end": t1,
                             "gpu_seen": (v.get("env") or {}).get("gpu")})

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.time()
    threads = [threading.Thread(target=lane, args=(s,)) for s in slots]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - start
    stop.set()

    print(f"{len(runs)} verifications on {len(slots)} GPU(s) in {wall:.1f} s; statuses: "
          f"{sorted({r['status'] for r in runs})}")
    print("\n| GPU | verifications | overlaps on this GPU | verifier busy (share of wall) | GPU utilisation > 0 (share of samples) | mean utilisation |")
    print("|---|---|---|---|---|---|")
    for s in slots:
        mine = sorted((r for r in runs if r["slot"] == s), key=lambda r: r["start"])
        overlaps = sum(1 for a, b in zip(mine, mine[1:]) if b["start"] < a["end"])
        busy = sum(r["end"] - r["start"] for r in mine) / wall
        u = util[s]
        active = sum(1 for x in u if x > 0) / len(u) if u else 0.0
        mean = sum(u) / len(u) if u else 0.0
        print(f"| {s} | {len(mine)} | {overlaps} | {busy:.0%} | {active:.0%} | {mean:.0f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
