#!/usr/bin/env python3
"""Compare the verdicts of the acceptance kernels with bench/acceptance/expected.json.

Usage: python3 bench/acceptance/check_kernels.py RESULTS [--expected FILE]

RESULTS is a JSON file holding a list of {"problem", "status", "cheats": [{"class"}], "message"?} (or an
object with such a list under "results"/"verdicts"/"items", or a map problem -> verdict), or a directory of
verdict JSON files (problem id = the "problem"/"problem_id" field, else the file's stem). A case matches when
the status is the expected one and, for an expected cheat, that class is among the verdict's cheats (other
classes are shown, not failed); "message_contains" must be in the message where the verdict carries one.
Prints a table; exits 1 on any mismatch or missing problem, 2 on unreadable input. Python stdlib only.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load_results(path):
    out = {}
    if os.path.isdir(path):
        for name in sorted(os.listdir(path)):
            if name.endswith(".json"):
                with open(os.path.join(path, name)) as f:
                    v = json.load(f)
                if isinstance(v, dict):
                    out[v.get("problem") or v.get("problem_id") or name[:-5]] = v
        return out
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict):
        for key in ("results", "verdicts", "items"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if isinstance(v, dict)}
    for v in data:
        if isinstance(v, dict):
            verdict = v.get("verdict") if isinstance(v.get("verdict"), dict) else v
            out[v.get("problem") or v.get("problem_id")] = verdict
    return out


def main(argv):
    args = list(argv)
    expected_path = os.path.join(HERE, "expected.json")
    if "--expected" in args:
        i = args.index("--expected")
        expected_path = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        with open(expected_path) as f:
            expected = json.load(f)
        got = load_results(args[0])
    except (OSError, ValueError) as e:
        print(f"cannot read: {e}", file=sys.stderr)
        return 2
    rows, bad = [], 0
    for pid, exp in expected.items():
        v = got.get(pid)
        want = exp["status"] + (f" ({exp['cheat']})" if exp.get("cheat") else "")
        if v is None:
            rows.append((pid, want, "missing", "FAIL"))
            bad += 1
            continue
        classes = [c.get("class") for c in v.get("cheats") or [] if isinstance(c, dict)]
        have = str(v.get("status")) + (f" ({', '.join(classes)})" if classes else "")
        ok = v.get("status") == exp["status"] and (not exp.get("cheat") or exp["cheat"] in classes)
        if ok and exp.get("message_contains") and isinstance(v.get("message"), str):
            if exp["message_contains"] not in v["message"]:
                ok = False
                have += f"; message lacks '{exp['message_contains']}'"
        rows.append((pid, want, have, "ok" if ok else "FAIL"))
        bad += not ok
    w = [max(len(r[i]) for r in rows + [("problem", "expected", "got", "")]) for i in range(3)]
    print(f"{'problem':<{w[0]}}  {'expected':<{w[1]}}  {'got':<{w[2]}}  result")
    for r in rows:
        print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}")
    print(f"{len(rows) - bad} of {len(rows)} as expected")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
