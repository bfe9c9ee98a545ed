"""End-to-end verification in CPU mode (TRITON_INTERPRET=1 in the candidate's process)."""
import json
import os

import pytest

from verifier.tests.conftest import FIXTURES, REPO, cli, request, verify

VERDICT_KEYS = {"status", "message", "correctness", "cheats", "timing", "env", "stages"}


def check_schema(v):
    assert set(v) == VERDICT_KEYS
    assert v["status"] in ("correct", "incorrect", "compile_error", "runtime_error", "timeout", "rejected",
                           "infra_error")
    assert isinstance(v["message"], str) and v["message"]
    assert set(v["env"]) == {"device", "gpu", "driver", "torch", "triton", "cuda", "network_isolated",
                              "filesystem_readonly"}
    assert set(v["stages"]) == {"static", "compile", "correctness", "timing"}
    assert all(isinstance(x, float) for x in v["stages"].values())
    if v["correctness"] is not None:
        assert set(v["correctness"]) == {"trials", "passed", "max_abs_error", "max_rel_error",
                                         "mismatch_fraction", "first_bad_index"}
    if v["timing"] is not None:
        assert set(v["timing"]) == {"meaningful", "candidate_ms", "trials", "eager_ms", "compile_ms",
                                    "speedup_vs_eager", "speedup_vs_compile", "flex_ms", "speedup_vs_flex",
                                    "method", "method_note", "host_ms", "eager_ms_interval", "compile_ms_interval",
                                    "speedup_vs_eager_interval", "speedup_vs_compile_interval", "compile_mode",
                                    "review", "sol", "hardware"}
        assert {"median", "p20", "p80"} <= set(v["timing"]["candidate_ms"]) <= {"median", "p20", "p80", "low", "high"}
        assert v["timing"]["hardware"] is None  # CPU mode: the interpreter compiles no kernels to report
    for c in v["cheats"]:
        assert set(c) == {"class", "evidence"}


def test_cli_correct_from_file_with_timing(tmp_path):
    req = request("elementwise_add", "add_correct", timing=True, seeds=[0, 1, 2])
    del req["seeds"]  # default: 3 seeds on cpu
    p = tmp_path / "req.json"
    p.write_text(json.dumps(req))
    r = cli(["verify", "--request", str(p)])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    v = json.loads(lines[0])
    check_schema(v)
    assert v["status"] == "correct", v["message"]
    assert v["correctness"]["trials"] == 3 and v["correctness"]["passed"] == 3
    assert v["correctness"]["first_bad_index"] is None and v["cheats"] == []
    t = v["timing"]
    assert t["meaningful"] is False and t["candidate_ms"]["median"] > 0 and t["trials"] >= 2
    assert isinstance(t["eager_ms"], float)
    assert t["speedup_vs_eager"] is None and t["speedup_vs_compile"] is None and t["compile_ms"] is None
    assert v["env"]["device"] == "cpu" and v["env"]["gpu"] is None and v["env"]["triton"]
    from verifier import sandbox

    assert v["env"]["network_isolated"] is sandbox.netns_available()
    assert v["stages"]["timing"] > 0 and v["stages"]["compile"] > 0


def test_cli_stdin_and_secrets_stripped():
    # the probe candidate raises if it can see a secret-looking variable or runs in the repository
    req = request("elementwise_add", "probe_env")
    r = cli(["verify"], stdin=json.dumps(req),
            env={"MY_API_KEY": "x", "GITHUB_TOKEN": "y", "DB_PASSWORD": "z", "SOME_SECRET": "w"})
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)
    check_schema(v)
    assert v["status"] == "correct", v["message"]


@pytest.mark.skipif(not __import__("verifier.sandbox", fromlist=["x"]).mountns_available(),
                    reason="unshare -rmn does not work here")
def test_candidate_cannot_write_the_verifier_or_the_baselines():
    """In its mount namespace the candidate's process sees every filesystem read-only but its directory,
    the Triton and build caches: it cannot rewrite the verifier's source or the cached baselines."""
    for warm in (True, False):
        v = verify("elementwise_add", "probe_fs", warm=warm)
        assert v["status"] == "correct", v["message"]
        assert v["env"]["filesystem_readonly"] is True
    assert not (REPO / "verifier" / "_written_by_candidate.py").exists()


def test_cli_bad_request():
    r = cli(["verify"], stdin="{not json")
    assert r.returncode == 2
    v = json.loads(r.stdout)
    check_schema(v)
    assert v["status"] == "infra_error" and "bad request" in v["message"]
    r = cli(["verify"], stdin=json.dumps({"problem_source": "x", "candidate_source": "y", "backend": "rust"}))
    assert r.returncode == 2 and json.loads(r.stdout)["status"] == "infra_error"


def test_incorrect():
    v = verify("elementwise_add", "add_incorrect")
    check_schema(v)
    assert v["status"] == "incorrect"
    c = v["correctness"]
    assert c["passed"] == 0 and c["trials"] == 2
    assert c["max_abs_error"] > 0.1 and c["mismatch_fraction"] > 0.9 and c["first_bad_index"] == [0]
    assert "max abs error" in v["message"] and "first at [0]" in v["message"]
    assert v["timing"] is None


def test_compile_error_points_at_candidate_line():
    v = verify("elementwise_add", "add_compile_error")
    check_schema(v)
    assert v["status"] == "compile_error"
    assert "candidate.py:10" in v["message"] and "power of 2" in v["message"]
    assert "interpreter.py" not in v["message"] and len(v["message"].splitlines()) <= 8
    assert v["correctness"] is None


def test_syntax_error_and_missing_modelnew():
    v = verify("elementwise_add", "add_syntax_error")
    assert v["status"] == "compile_error" and "candidate.py:22" in v["message"]
    v = verify("elementwise_add", "add_no_modelnew")
    assert v["status"] == "compile_error" and "ModelNew" in v["message"]


def test_runtime_error():
    v = verify("elementwise_add", "add_runtime_error")
    check_schema(v)
    assert v["status"] == "runtime_error"
    assert "candidate.py:25" in v["message"] and "invalid for input of size 4096" in v["message"]


def test_timeout():
    v = verify("elementwise_add", "add_timeout", timeout_s=2)
    check_schema(v)
    assert v["status"] == "timeout"
    assert "2 s" in v["message"]


def test_segfault():
    v = verify("elementwise_add", "add_segfault")
    check_schema(v)
    assert v["status"] == "runtime_error"
    assert "SIGSEGV" in v["message"] and "candidate.py:26" in v["message"]


def test_runtime_loop_bound_runs_in_interpreter():
    """DESIGN.md pitfall: a loop over a run-time bound must run in CPU mode (numpy < 2.4 or a fixed Triton)."""
    v = verify("row_sum", "rowsum_loop")
    assert v["status"] == "correct", v["message"]


def test_weights_initialised_identically():
    v = verify("linear", "linear_correct")
    assert v["status"] == "correct", v["message"]
    assert v["correctness"]["max_abs_error"] < 1e-4


def test_cuda_backend_needs_gpu():
    v = verify("elementwise_add", "add_correct", backend="cuda")
    assert v["status"] == "infra_error" and "needs device 'cuda'" in v["message"]


def test_malformed_problem_is_infra_error():
    req = request("elementwise_add", "add_correct")
    req["problem_source"] = (FIXTURES / "malformed" / "no_get_inputs.py").read_text()
    from verifier.verify import parse_request, verify_request

    v = verify_request(parse_request(json.dumps(req)))
    assert v["status"] == "infra_error" and "get_inputs" in v["message"]


def test_tolerance_override():
    # a - b*scale is off by |b|; atol=10 accepts it (and the relative-norm check follows rtol)
    v = verify("elementwise_add", "add_incorrect", atol=10.0, rtol=10.0)
    assert v["status"] == "correct", v["message"]


def test_job_holds_no_tensors_and_both_sides_draw_the_same_inputs(tmp_path):
    """The candidate's process gets seeds and sizes only (never results) and draws the inputs itself; the
    values must be exactly the reference's, or every verdict would be wrong."""
    import torch

    from verifier import problem_inputs as pin
    from verifier.problem_inputs import PROBLEM_FILE
    from verifier.reference import Reference
    from verifier.verify import parse_request

    req = parse_request(json.dumps(request("elementwise_add", "add_correct")))
    ref = Reference(req, "cpu")
    try:
        ref.prepare()
        job = ref.job(PROBLEM_FILE)

        def leaves(o):
            if isinstance(o, dict):
                return [x for v in o.values() for x in leaves(v)]
            if isinstance(o, (list, tuple)):
                return [x for v in o for x in leaves(v)]
            return [o]

        assert all(isinstance(x, (int, str, bool)) for x in leaves(job)), job
        assert json.loads(json.dumps(job)) == job
        # the runner's side: a fresh module from the same file, the same seed
        path = tmp_path / PROBLEM_FILE
        path.write_text(req["problem_source"])
        mod = pin.load_problem(str(path), "kernel_problem_runner_side")
        for tr in ref.trials[:1]:
            xs = pin.make_inputs(torch, mod, tr.seed, "cpu")
            assert all(torch.equal(x, y) for x, y in zip(xs, tr.inputs_a))
            _, sd = pin.reference_state(torch, mod, tr.seed, pin.init_inputs(torch, mod, tr.seed))
            assert all(torch.equal(sd[k], v.cpu()) for k, v in tr.model.state_dict().items())
    finally:
        ref.close()


def test_candidate_process_dies_with_the_verifier():
    """If the verifier is killed (the activity was cancelled), a candidate stuck in a loop goes too."""
    import signal
    import subprocess
    import sys
    import time

    from verifier.tests.conftest import REPO

    req = request("elementwise_add", "add_timeout", timeout_s=100)
    p = subprocess.Popen([sys.executable, "-m", "verifier", "verify"], cwd=REPO, stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p.stdin.write(json.dumps(req).encode())
    p.stdin.close()

    def children(pid):
        out = []
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
        return out

    deadline = time.time() + 60
    kids = []
    while time.time() < deadline and not kids:
        kids = [k for k in children(p.pid) if "_runner" in open(f"/proc/{k}/cmdline").read()]
        time.sleep(0.2)
    assert kids, "the candidate's process did not start"
    time.sleep(4)  # inside the candidate's endless loop by now
    p.send_signal(signal.SIGKILL)
    p.wait()
    time.sleep(1.0)
    for k in kids:
        alive = os.path.exists(f"/proc/{k}") and open(f"/proc/{k}/stat").read().split(") ")[-1][:1] not in "ZX"
        assert not alive, f"candidate process {k} outlived the verifier"
