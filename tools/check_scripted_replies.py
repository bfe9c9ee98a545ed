#!/usr/bin/env python3
"""Check that every scripted LLM reply behaves as intended in CPU mode (Triton interpreter).

For each folder scripted-replies/<id>/ and test/fixtures/scripted-replies/<id>/ this script finds the
problem (problems/**/<id>.py, resp. test/fixtures/problems/<id>.py), extracts the single ```python
block of every reply NN.md, runs it against the problem's Model with TRITON_INTERPRET=1 on two seeds
(each reply in its own process; --device cuda compiles and runs them on a GPU instead), and prints
one line per reply:

    compile_error | runtime_error | incorrect (max abs error) | correct | timeout

Replies with a known intended outcome (EXPECTED below) are checked against it; the exit status is 1
when any reply does not behave as intended, or when a demo reply (scripted-replies/) takes longer
than --max-demo-seconds. This is a tool for authors of scripted replies, not the project's verifier
(python -m verifier), which has its own cheat checks and tolerances.

    .venv/bin/python tools/check_scripted_replies.py [--seeds 0 1] [--only ID ...] [--device cuda]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# intended outcome of each reply, by problem id; a reply not listed is only reported
EXPECTED = {
    "relative_position_attention": ["compile_error", "incorrect", "correct"],
    "vector_add": ["compile_error", "incorrect", "correct"],
    "never_solved": ["incorrect"],
    "slow_verify": ["correct"],
}

TOLERANCES = {  # dtype name -> (atol, rtol)
    "float32": (1e-4, 1e-4),
    "float64": (1e-6, 1e-6),
    "float16": (1e-2, 1e-2),
    "bfloat16": (2e-2, 2e-2),
}

FENCE = re.compile(r"```python[^\n]*\n(.*?)```", re.DOTALL)


def extract_code(text):
    """The single ```python block of a reply; raises ValueError if there is not exactly one."""
    blocks = FENCE.findall(text)
    if len(blocks) != 1:
        raise ValueError(f"expected exactly one ```python block, found {len(blocks)}")
    return blocks[0]


def reply_sets():
    """Yield (label, problem_path or None, reply_dir) for every scripted problem folder."""
    for replies_root, problems_root in (
        (ROOT / "scripted-replies", ROOT / "problems"),
        (ROOT / "test" / "fixtures" / "scripted-replies", ROOT / "test" / "fixtures" / "problems"),
    ):
        if not replies_root.is_dir():
            continue
        for reply_dir in sorted(p for p in replies_root.iterdir() if p.is_dir()):
            matches = sorted(problems_root.rglob(f"{reply_dir.name}.py"))
            yield reply_dir.relative_to(ROOT), (matches[0] if matches else None), reply_dir


# ----------------------------------------------------------------------------- child process

def _classify_exception(exc, candidate_file):
    """(status, message) for an exception raised while importing or calling the candidate.

    In the interpreter every kernel error arrives as an InterpreterError wrapping the original
    exception; it counts as a compile error when it was raised by Triton's frontend
    (triton/language, triton/compiler) or is an unknown name/attribute, as on a GPU the compiler
    would reject the kernel before it runs.
    """
    import traceback

    chain, e = [], exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    root = chain[-1]
    names = {type(x).__name__ for x in chain}
    frames = traceback.extract_tb(root.__traceback__)
    cand = os.path.realpath(candidate_file)
    cand_lines = [f.lineno for x in chain for f in traceback.extract_tb(x.__traceback__)
                  if os.path.realpath(f.filename) == cand]
    if isinstance(root, SyntaxError) and root.lineno:
        cand_lines.append(root.lineno)
    where = f"line {cand_lines[-1]}: " if cand_lines else ""
    message = f"{where}{type(root).__name__}: {root}"
    last_file = frames[-1].filename.replace(os.sep, "/") if frames else ""
    frontend = "/triton/language/" in last_file or "/triton/compiler/" in last_file
    if ("CompilationError" in names or isinstance(root, (SyntaxError, ImportError))
            or ("InterpreterError" in names and (frontend or isinstance(root, (AttributeError, NameError))))):
        return "compile_error", message
    return "runtime_error", message


def run_one(problem_path, candidate_path, seeds, device="cpu"):
    if device == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported anywhere
    else:
        os.environ.pop("TRITON_INTERPRET", None)
    import importlib.util

    import torch

    def load(path, name):
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod

    result = {"status": None, "message": "", "max_abs_error": 0.0, "call_s": []}
    problem = load(problem_path, "scripted_problem")
    try:
        candidate = load(candidate_path, "scripted_candidate")
        model_new_cls = candidate.ModelNew
    except BaseException as exc:  # noqa: BLE001 - any failure to import is the candidate's fault
        result["status"], result["message"] = _classify_exception(exc, candidate_path)
        return result

    for seed in seeds:
        torch.manual_seed(seed)
        init = problem.get_init_inputs()
        model = problem.Model(*init).to(device)
        try:
            model_new = model_new_cls(*init).to(device)
        except BaseException as exc:  # noqa: BLE001
            result["status"], result["message"] = _classify_exception(exc, candidate_path)
            return result
        torch.manual_seed(seed)
        inputs = [x.to(device) if torch.is_tensor(x) else x for x in problem.get_inputs()]
        with torch.no_grad():
            expected = model(*[x.clone() if torch.is_tensor(x) else x for x in inputs])
            t0 = time.perf_counter()
            try:
                out = model_new(*[x.clone() if torch.is_tensor(x) else x for x in inputs])
                if device != "cpu":
                    torch.cuda.synchronize()
            except BaseException as exc:  # noqa: BLE001
                result["status"], result["message"] = _classify_exception(exc, candidate_path)
                return result
            result["call_s"].append(round(time.perf_counter() - t0, 3))
        if not torch.is_tensor(out) or out.shape != expected.shape or out.dtype != expected.dtype:
            got = f"{type(out).__name__} {getattr(out, 'shape', '')} {getattr(out, 'dtype', '')}"
            result["status"] = "incorrect"
            result["message"] = f"seed {seed}: output {got}, expected {tuple(expected.shape)} {expected.dtype}"
            return result
        atol, rtol = TOLERANCES.get(str(expected.dtype).replace("torch.", ""), (1e-4, 1e-4))
        out, expected = out.cpu(), expected.cpu()
        err = (out.double() - expected.double()).abs()
        max_abs = float(err.max()) if err.numel() else 0.0
        if not torch.isfinite(out).all() and torch.isfinite(expected).all():
            max_abs = float("inf")
        result["max_abs_error"] = max(result["max_abs_error"], max_abs)
        bad = ~torch.isclose(out.double(), expected.double(), atol=atol, rtol=rtol)
        if bad.any():
            first = [int(i) for i in bad.nonzero()[0].tolist()]
            result["status"] = "incorrect"
            result["message"] = (f"seed {seed}: max abs error {max_abs:.3g}, "
                                 f"{float(bad.float().mean()):.1%} mismatched, first bad index {first}")
            return result
    result["status"] = "correct"
    result["message"] = f"max abs error {result['max_abs_error']:.3g} over seeds {list(seeds)}"
    return result


# ----------------------------------------------------------------------------- parent

def check_reply(problem_path, reply_path, seeds, timeout_s, device="cpu"):
    code = extract_code(reply_path.read_text())
    with tempfile.TemporaryDirectory(prefix="scripted-reply-") as tmp:
        cand = Path(tmp) / f"candidate_{reply_path.parent.name}_{reply_path.stem}.py"
        cand.write_text(code)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--one", str(problem_path), str(cand),
               "--seeds", *map(str, seeds), "--device", device]
        env = dict(os.environ, TRITON_INTERPRET="1")
        if device != "cpu":
            env.pop("TRITON_INTERPRET")
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=tmp)
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "message": f"no result after {timeout_s} s", "call_s": []}, timeout_s
        wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"status": "infra_error", "message": f"child exited {proc.returncode}: {tail}", "call_s": []}, wall
    return json.loads(lines[-1]), wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--only", nargs="+", help="problem ids to check (default: all)")
    ap.add_argument("--timeout", type=int, default=180, help="seconds per reply")
    ap.add_argument("--max-demo-seconds", type=float, default=10.0,
                    help="a reply under scripted-replies/ must finish within this (wall time, both seeds)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="cpu: Triton interpreter (default); cuda: compile and run the kernels on the GPU")
    ap.add_argument("--one", nargs=2, metavar=("PROBLEM", "CANDIDATE"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1], args.seeds, args.device)), flush=True)
        return 0

    failures = 0
    print(f"{'reply':<52} {'verdict':<14} {'expected':<14} {'wall s':>7}  calls s     detail")
    for label, problem_path, reply_dir in reply_sets():
        pid = reply_dir.name
        if args.only and pid not in args.only:
            continue
        if problem_path is None:
            print(f"{str(label) + '/':<52} NO PROBLEM FILE named {pid}.py")
            failures += 1
            continue
        replies = sorted(reply_dir.glob("[0-9][0-9].md"))
        expected = EXPECTED.get(pid, [])
        for i, reply in enumerate(replies):
            want = expected[i] if i < len(expected) else None
            try:
                res, wall = check_reply(problem_path, reply, args.seeds, args.timeout, args.device)
            except ValueError as exc:
                res, wall = {"status": "malformed", "message": str(exc), "call_s": []}, 0.0
            ok = want is None or res["status"] == want
            slow = str(label).startswith("scripted-replies") and wall > args.max_demo_seconds
            flag = "" if ok and not slow else ("  <-- UNEXPECTED" if not ok else "  <-- TOO SLOW")
            failures += (not ok) + slow
            calls = ",".join(f"{c:.2f}" for c in res.get("call_s", [])) or "-"
            print(f"{str(label / reply.name):<52} {res['status']:<14} {str(want or '-'):<14} "
                  f"{wall:7.2f}  {calls:<10}  {res['message'][:160]}{flag}", flush=True)
        if len(replies) < len(expected):
            print(f"{str(label) + '/':<52} only {len(replies)} replies, {len(expected)} expected  <-- UNEXPECTED")
            failures += 1
    print(f"\n{'all replies behave as intended' if not failures else f'{failures} problem(s) found'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
