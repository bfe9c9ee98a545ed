"""Shared helpers for the verifier's CPU-mode tests (Triton interpreter, no GPU)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]


def problem(name: str) -> str:
    return (FIXTURES / "problems" / f"{name}.py").read_text()


def candidate(name: str) -> str:
    return (FIXTURES / "candidates" / f"{name}.py").read_text()


def request(prob: str, cand: str, **kw: Any) -> dict[str, Any]:
    req = {"problem_id": prob, "problem_source": problem(prob), "candidate_source": candidate(cand),
           "backend": "triton", "device": "cpu", "seeds": [0, 1], "timeout_s": 60, "timing": False}
    req.update(kw)
    return req


_WARM: Any = None


def warm_state() -> Any:
    """One warm verifier state for the session, as ``python -m verifier serve --device cpu`` keeps it."""
    global _WARM
    if _WARM is None:
        from verifier.service import WarmState

        _WARM = WarmState("cpu")
    return _WARM


def verify(prob: str, cand: str, warm: bool = True, **kw: Any) -> dict[str, Any]:
    """Verify in this process (torch is imported once for the whole session) the way the warm verifier
    does (``warm=False``: the one-shot ``verify`` path); the candidate still runs in its own process."""
    from verifier.verify import parse_request, verify_request

    state = warm_state() if warm else None
    v = verify_request(parse_request(json.dumps(request(prob, cand, **kw))), state)
    if state is not None:
        state.prespawn()
    # the CLI's output must be strict JSON, and match verifier/verdict.schema.json: checked for every verdict
    import jsonschema

    from verifier.wire import clean_json

    text = json.dumps(clean_json(v), allow_nan=False)
    jsonschema.validate(json.loads(text), verdict_schema())
    return v


_SCHEMA: Any = None


def verdict_schema() -> Any:
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = json.loads((REPO / "verifier" / "verdict.schema.json").read_text())
    return _SCHEMA


def cli(args: list[str], stdin: str | None = None, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "verifier", *args], cwd=REPO, input=stdin, capture_output=True,
                          text=True, timeout=timeout, env=e)


@pytest.fixture(autouse=True, scope="session")
def _data_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = tmp_path_factory.mktemp("verifier-data")
    os.environ["VERIFIER_DATA_DIR"] = str(d)
    os.environ["VERIFIER_QUIET"] = "1"
    yield
    if _WARM is not None:
        _WARM.close()
