"""Stage 1, static: the problem parses and the candidate's source passes the ``ast`` checks; nothing runs.

Verdicts from here: ``infra_error`` (a malformed problem, backend ``cuda`` in CPU mode), ``compile_error``
(a syntax error, no ``ModelNew``), ``rejected`` with the static cheat classes (``verifier.static_check``).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from verifier.inspect_problem import problem_info
from verifier.stages.outcome import Checked, Final
from verifier.static_check import check_candidate

if TYPE_CHECKING:
    from verifier.verify import Verification


def run(ver: Verification) -> Checked | Final:
    req = ver.req
    t = time.perf_counter()
    info = problem_info(req["problem_source"], req["problem_id"])
    if not info["ok"]:
        return ver.finish("infra_error", f"problem {req['problem_id']} is malformed: {info['error']}")
    st = check_candidate(req["candidate_source"], req["problem_source"], req["backend"])
    ver.stages["static"] = time.perf_counter() - t
    if st.syntax_error:
        return ver.finish("compile_error", st.syntax_error)
    if st.missing:
        return ver.finish("compile_error", st.missing)
    if st.cheats:
        return ver.reject(st.cheats, "static check")
    if req["backend"] == "cuda" and ver.device == "cpu":
        return ver.finish("infra_error", "backend 'cuda' (load_inline) needs device 'cuda'; CPU mode runs "
                                         "only Triton kernels, through the interpreter")
    return Checked(st)
