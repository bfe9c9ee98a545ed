"""CLI: ``python -m verifier verify [--request FILE]``, ``python -m verifier serve --device cuda|cpu`` (the
warm verifier a GPU worker keeps per slot, ``verifier.service``) and ``python -m verifier inspect --problem FILE``, ``python -m verifier profile [--request FILE]`` (Nsight Compute
counters, ``verifier.profile``).

``verify`` and ``inspect`` print exactly one JSON object on stdout; everything else goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import sys

from verifier import service, verify
from verifier.inspect_problem import inspect_file
from verifier.wire import clean_json, emit, empty_verdict


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        if args.request and args.request != "-":
            with open(args.request, encoding="utf-8") as f:
                raw = f.read()
        else:
            raw = sys.stdin.read()
    except OSError as e:
        v = empty_verdict("cpu")
        v["message"] = f"cannot read request: {e}"
        emit(v)
        return 2
    verdict, code = verify.verdict_for(raw)
    if args.debug:
        print(json.dumps(clean_json(verdict), indent=1), file=sys.stderr)
    emit(verdict)
    return code


def cmd_profile(args: argparse.Namespace) -> int:
    from verifier import profile

    try:
        raw = open(args.request, encoding="utf-8").read() if args.request and args.request != "-" else sys.stdin.read()
    except OSError as e:
        raw = f"<cannot read request: {e}>"
    res = profile.profile_request(raw)
    emit(res)
    return 0 if res["available"] else 1


def cmd_inspect(args: argparse.Namespace) -> int:
    info = inspect_file(args.problem)
    emit(info)
    return 0 if info.get("ok") else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m verifier", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify", help="verify one candidate kernel (request JSON from --request FILE or stdin)")
    v.add_argument("--request", help="request JSON file; stdin when absent or '-'")
    v.add_argument("--debug", action="store_true", help="also pretty-print the verdict on stderr")
    sv = sub.add_parser("serve", help="warm verifier: requests as JSON lines on stdin, verdicts on stdout")
    sv.add_argument("--device", choices=("cuda", "cpu"), required=True)
    pr = sub.add_parser("profile", help="Nsight Compute counters of one candidate (a verify request's JSON)")
    pr.add_argument("--request", help="request JSON file; stdin when absent or '-'")
    i = sub.add_parser("inspect", help="parse a problem file without running it")
    i.add_argument("--problem", required=True)
    args = p.parse_args(argv)
    if args.cmd == "verify":
        return cmd_verify(args)
    if args.cmd == "profile":
        return cmd_profile(args)
    if args.cmd == "serve":
        return service.serve(args.device)
    return cmd_inspect(args)


if __name__ == "__main__":
    sys.exit(main())
