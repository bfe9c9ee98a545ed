#!/usr/bin/env python3
"""On a CUDA GPU: the shape-hardcoding check on compiled Triton (the CPU tests use the interpreter).
A candidate that hardcodes N must be rejected with shape-hardcoding, its generic twin accepted.
Usage: python3 -m verifier.tests.gpu.check_shape"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
FIX = os.path.join(ROOT, "verifier", "tests", "fixtures")
CASES = [("elementwise_add", "cheat_shape_hardcoding", "rejected"), ("elementwise_add", "add_correct", "correct"),
         ("literal_add", "cheat_shape_hardcoding", "correct")]


def main() -> int:
    ok = True
    for problem, cand, want in CASES:
        req = {"problem_id": problem, "problem_source": open(os.path.join(FIX, "problems", problem + ".py")).read(),
               "candidate_source": open(os.path.join(FIX, "candidates", cand + ".py")).read(),
               "backend": "triton", "device": "cuda", "timeout_s": 300}
        res = subprocess.run([sys.executable, "-m", "verifier", "verify"], cwd=ROOT, input=json.dumps(req),
                             capture_output=True, text=True)
        v = json.loads(res.stdout)
        classes = [c["class"] for c in v["cheats"]]
        good = v["status"] == want and (want != "rejected" or "shape-hardcoding" in classes)
        ok &= good
        print(f"| {problem} | {cand} | {want} | {v['status']} {classes} | {'yes' if good else 'NO'} | {v['message'][:140]} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
