#!/usr/bin/env python3
"""Verify the demo's correct relative-position kernel on a CUDA GPU against the problem rendered from
its variant spec, at the spec's shape and a larger one, and print the verdicts' timing, including the
FlexAttention baseline. Usage: python3 -m verifier.tests.gpu.check_flex"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SPEC = os.path.join(ROOT, "problems", "attention", "variants", "relative_position.py")
REPLY = os.path.join(ROOT, "scripted-replies", "relative_position_attention", "03.md")
SHAPES = [[], ["--batch", "4", "--heads", "16", "--seq", "1024", "--dim", "64"], ["--batch", "4", "--heads", "16", "--seq", "4096", "--dim", "64"]]


def main() -> int:
    candidate = re.findall(r"```python\n(.*?)```", open(REPLY).read(), re.S)[-1]
    rows = []
    for shape in SHAPES:
        problem = subprocess.run([sys.executable, "-m", "verifier.attention", "render", SPEC, *shape], cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout
        req = {"problem_id": "relative_position", "problem_source": problem, "candidate_source": candidate,
               "backend": "triton", "device": "cuda", "timeout_s": 300}
        res = subprocess.run([sys.executable, "-m", "verifier", "verify"], cwd=ROOT, input=json.dumps(req),
                             capture_output=True, text=True)
        v = json.loads(res.stdout)
        t = v.get("timing") or {}
        rows.append((" ".join(shape) or "spec shape (1x2x64x32)", v["status"], (t.get("candidate_ms") or {}).get("median"),
                     t.get("eager_ms"), t.get("compile_ms"), t.get("flex_ms"), t.get("speedup_vs_eager"),
                     t.get("speedup_vs_compile"), t.get("speedup_vs_flex"), v["message"][:160]))
        print(json.dumps(v)[:1500], flush=True)
    print("\n| shape | status | kernel ms | eager ms | torch.compile ms | FlexAttention ms | x eager | x compile | x Flex |")
    print("|---|---|---|---|---|---|---|---|---|")
    f = lambda x: "n/a" if x is None else (f"{x:.4f}" if isinstance(x, float) else str(x))  # noqa: E731
    for r in rows:
        print("| " + " | ".join(f(x) for x in r[:9]) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
