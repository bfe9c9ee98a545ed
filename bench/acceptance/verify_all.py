#!/usr/bin/env python3
"""The acceptance kernels through warm verifiers on this GPU, without Node or Temporal: each verdict into
OUT/<id>.json, then bench/acceptance/check_kernels.py over them (expected against got).

    python3 bench/acceptance/verify_all.py OUT [--slots 2]
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from verifier.tests.gpu.client import WarmVerifier, request  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--slots", type=int, default=2)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    expected = json.loads((HERE / "expected.json").read_text())
    data = Path(tempfile.mkdtemp(prefix="ks-acc-"))
    ids = sorted(expected)
    verifiers = [WarmVerifier("cuda", data) for _ in range(a.slots)]

    def one(k: int, pid: str) -> None:
        e = expected[pid]
        v, wall, _ = verifiers[k % a.slots].verify(request(HERE / "problems" / f"{pid}.py", HERE / "kernels" / f"{pid}.py",
                                                           e["backend"], "cuda", timeout_s=300))
        v["problem"] = pid
        (out / f"{pid}.json").write_text(json.dumps(v, indent=1))
        print(f"{pid}: {v['status']} {[c['class'] for c in v.get('cheats', [])]} {wall:.1f}s", flush=True)

    with cf.ThreadPoolExecutor(a.slots) as ex:
        for f in [ex.submit(one, k, pid) for k, pid in enumerate(ids)]:
            f.result()
    for v in verifiers:
        v.close()
    return subprocess.call([sys.executable, str(HERE / "check_kernels.py"), str(out)])


if __name__ == "__main__":
    raise SystemExit(main())
