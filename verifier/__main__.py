"""CLI: ``python -m verifier verify [--request FILE]``, ``python -m verifier serve --device cuda|cpu`` (the
warm verifier a GPU worker keeps per slot, ``verifier.service``) and ``python -m verifier inspect --problem FILE``.

``verify`` and ``inspect`` print exactly one JSON object on stdout; everything else goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any


def clean_json(o: Any) -> Any:
    """Make the verdict strict JSON: non-finite floats become null."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: clean_json(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [clean_json(v) for v in o]
    return o


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(clean_json(obj), allow_nan=False) + "\n")
    sys.stdout.flush()


def verdict_for(raw: str, warm: Any = None) -> tuple[dict[str, Any], int]:
    """(verdict, exit code) for a raw request; a bad request is an infra_error verdict, exit code 2."""
    from verifier.verify import RequestError, empty_verdict, parse_request, verify_request

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
        return v, 2
    return verify_request(req, warm), 0


def cmd_verify(args: argparse.Namespace) -> int:
    from verifier.verify import empty_verdict

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
    verdict, code = verdict_for(raw)
    if args.debug:
        print(json.dumps(clean_json(verdict), indent=1), file=sys.stderr)
    emit(verdict)
    return code


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
    sv = sub.add_parser("serve", help="warm verifier: requests as JSON lines on stdin, verdicts on stdout")
    sv.add_argument("--device", choices=("cuda", "cpu"), required=True)
    i = sub.add_parser("inspect", help="parse a problem file without running it")
    i.add_argument("--problem", required=True)
    args = p.parse_args(argv)
    if args.cmd == "verify":
        return cmd_verify(args)
    if args.cmd == "serve":
        from verifier.service import serve

        return serve(args.device)
    return cmd_inspect(args)


if __name__ == "__main__":
    sys.exit(main())
