"""CLI: ``python -m verifier verify [--request FILE]`` and ``python -m verifier inspect --problem FILE``.

stdout carries exactly one JSON object; everything else goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any


def _clean(o: Any) -> Any:
    """Make the verdict strict JSON: non-finite floats become null."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(_clean(obj), allow_nan=False) + "\n")
    sys.stdout.flush()


def cmd_verify(args: argparse.Namespace) -> int:
    from verifier.verify import RequestError, empty_verdict, parse_request, verify_request

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
    try:
        req = parse_request(raw)
    except RequestError as e:
        dev = "cpu"
        try:
            d = json.loads(raw).get("device")
            dev = d if d in ("cpu", "cuda") else dev
        except Exception:  # noqa: BLE001
            pass
        v = empty_verdict(dev)
        v["message"] = f"bad request: {e}"
        emit(v)
        return 2
    verdict = verify_request(req)
    if args.debug:
        print(json.dumps(_clean(verdict), indent=1), file=sys.stderr)
    emit(verdict)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from verifier.inspect_problem import inspect_file

    info = inspect_file(args.problem)
    emit(info)
    return 0 if info.get("ok") else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m verifier", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify", help="verify one candidate kernel (request JSON from --request FILE or stdin)")
    v.add_argument("--request", help="request JSON file; stdin when absent or '-'")
    v.add_argument("--debug", action="store_true", help="also pretty-print the verdict on stderr")
    i = sub.add_parser("inspect", help="parse a problem file without running it")
    i.add_argument("--problem", required=True)
    args = p.parse_args(argv)
    if args.cmd == "verify":
        return cmd_verify(args)
    return cmd_inspect(args)


if __name__ == "__main__":
    sys.exit(main())
