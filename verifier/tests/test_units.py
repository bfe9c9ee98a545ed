"""Unit tests of the pieces that need no candidate process."""
import ast
import json
import re

import pytest
import torch

from verifier import sandbox
from verifier.candidate.harness import map_build_lines, poison_fill
from verifier.compare import bitwise_equal, compare_outputs, poison_count, summarize_error
from verifier.errors import format_exception, trim_build_log
from verifier.static_check import check_candidate
from verifier.tests.conftest import FIXTURES
from verifier.timing import quantile, summarize


def test_quantiles_match_numpy_linear():
    import numpy as np

    xs = sorted([5.0, 1.0, 3.0, 2.0, 4.0, 10.0])
    for q in (0.2, 0.5, 0.8):
        assert quantile(xs, q) == pytest.approx(float(np.quantile(xs, q)))
    s = summarize([3.0, 1.0, 2.0])
    assert s["median"] == 2.0 and s["trials"] == 3 and s["min"] == 1.0


def test_clean_env_strips_secrets(monkeypatch):
    for k in ("OPENAI_API_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "MY_SECRET", "AWS_SECRET_ACCESS_KEY", "NIM_AUTH"):
        monkeypatch.setenv(k, "x")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    env = sandbox.clean_env({"PYTHONPATH": "/repo"})
    assert not [k for k in env if re.search("KEY|TOKEN|PASSWORD|SECRET|AUTH", k)]
    assert "TRITON_INTERPRET" not in env and env["PYTHONPATH"] == "/repo" and "PATH" in env


def test_poison_fill_and_count():
    t = torch.empty(100)
    poison_fill(torch, t, "nan")
    assert torch.isnan(t).all() and poison_count(torch, t) == 100
    t[:30] = 1.0
    assert poison_count(torch, t) == 70
    # a NaN computed by arithmetic is not the poison pattern
    assert poison_count(torch, torch.full((10,), float("nan"))) == 0
    h = torch.empty(10, dtype=torch.float16)
    poison_fill(torch, h, "nan")
    assert poison_count(torch, h) == 10
    poison_fill(torch, h, "zero")
    assert (h == 0).all()
    i = torch.empty(10, dtype=torch.int32)
    poison_fill(torch, i, "nan")
    assert (i == 0x5A5A5A5A).all()


def test_compare_tolerances_and_messages():
    r = torch.linspace(-1, 1, 1000)
    ok = compare_outputs(torch, [r + 5e-5], [r], None, None, "cpu")
    assert ok.ok and ok.max_abs == pytest.approx(5e-5, rel=1e-3)
    bad = r.clone()
    bad[7] += 1.0
    c = compare_outputs(torch, [bad], [r], None, None, "cpu")
    assert not c.ok and c.first_bad_index == [7] and c.mismatched == 1 and "first at [7]" in c.reason
    c = compare_outputs(torch, [r.reshape(10, 100)], [r], None, None, "cpu")
    assert not c.ok and "shape" in c.reason and summarize_error(c)["max_abs_error"] is None
    c = compare_outputs(torch, [r.double()], [r], None, None, "cpu")
    assert not c.ok and "dtype" in c.reason
    n = r.clone()
    n[3] = float("nan")
    c = compare_outputs(torch, [n], [r], None, None, "cpu")
    assert not c.ok and c.nonfinite == 1 and c.first_bad_index == [3]
    # NaN where the reference has NaN is a match
    c = compare_outputs(torch, [n], [n.clone()], None, None, "cpu")
    assert c.ok
    # fp16 uses 1e-2
    h = r.half()
    assert compare_outputs(torch, [h + 0.004], [h], None, None, "cpu").ok
    # integers are exact
    assert not compare_outputs(torch, [torch.arange(5) + 1], [torch.arange(5)], None, None, "cpu").ok


def test_relative_norm_catches_tiny_constant_output():
    r = torch.randn(1000) * 1e-6
    c = compare_outputs(torch, [torch.zeros(1000)], [r], None, None, "cpu")
    assert not c.ok and c.rel_norm_fail and c.constant_output and c.reference_varies


def test_bitwise_equal_distinguishes_nan_payloads():
    a = torch.empty(4)
    poison_fill(torch, a, "nan")
    b = torch.full((4,), float("nan"))
    assert bitwise_equal(torch, [a], [a.clone()]) == (True, 0)
    assert bitwise_equal(torch, [a], [b]) == (False, 4)


def _raise_compilation_error(tmp_path):
    from triton.compiler.errors import CompilationError

    src = (FIXTURES / "candidates" / "add_compile_error.py").read_text()
    cand = tmp_path / "candidate.py"
    cand.write_text(src)
    lines = src.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("def axpy_kernel"))
    fsrc = "\n".join(lines[start:start + 8])
    node = ast.parse(fsrc).body[0].body[1]  # the tl.arange(0, 1000) line, relative to the def line
    try:
        try:
            raise ValueError("arange's range must be a power of 2")
        except ValueError as e:
            raise CompilationError(fsrc, node, repr(e)) from e
    except CompilationError as e:
        return format_exception(e, str(cand))


def test_triton_compilation_error_points_at_candidate_line(tmp_path):
    msg = _raise_compilation_error(tmp_path)
    assert msg.splitlines()[0] == "Triton compile error"
    assert "candidate.py:10 in axpy_kernel: offs = pid * BLOCK + tl.arange(0, 1000)" in msg
    assert msg.rstrip().endswith("ValueError: arange's range must be a power of 2")


def test_build_log_lines_map_to_candidate(tmp_path):
    src = (FIXTURES / "gpu" / "candidates" / "cuda_compile_error.py").read_text()
    cuda_src = re.search(r'cuda_source = r"""(.*?)"""', src, re.S).group(1)
    cpp = "torch::Tensor axpy(torch::Tensor a, torch::Tensor b, double scale);"
    (tmp_path / "cuda.cu").write_text("\n".join(["#include <torch/types.h>", "#include <cuda.h>",
                                                 "#include <cuda_runtime.h>", cuda_src]))
    (tmp_path / "main.cpp").write_text("#include <torch/extension.h>\n" + cpp + "\n")
    (tmp_path / "candidate.py").write_text(src)
    bad = next(i for i, ln in enumerate(cuda_src.split("\n")) if "scael" in ln)
    log = (f"Error building extension 'broken_ext_123': [1/3] /usr/local/cuda/bin/nvcc -c cuda.cu ...\n"
           f"{tmp_path}/cuda.cu({4 + bad}): error: identifier \"scael\" is undefined\n"
           f"      if (i < n) out[i] = a[i] + b[i] * scael;\n                                        ^\n\n"
           f"1 error detected in the compilation of \"{tmp_path}/cuda.cu\".\nninja: build stopped: subcommand failed.")
    mapped = trim_build_log(map_build_lines(log, str(tmp_path), {"cuda_sources": cuda_src, "cpp_sources": cpp},
                                            str(tmp_path / "candidate.py")))
    assert mapped.splitlines()[0] == "Error building extension 'broken_ext_123'"
    assert 'candidate.py:10: error: identifier "scael" is undefined' in mapped
    assert "nvcc -c" not in mapped and "ninja" not in mapped


def test_gpu_fixtures_pass_static_checks_as_intended():
    """The GPU fixtures (verifier/tests/gpu/check_verifier.py) are clean for the static check: the cheats among them
    are hidden from it on purpose, so that the run-time checks are what catches them."""
    for cand in sorted((FIXTURES / "gpu" / "candidates").glob("*.py")):
        prob = "gpu_matmul" if ("matmul" in cand.stem or "fallback" in cand.stem) else (
            "gpu_rowsum" if "rowsum" in cand.stem else "gpu_axpy")
        res = check_candidate(cand.read_text(), (FIXTURES / "gpu" / "problems" / f"{prob}.py").read_text(), "cuda")
        assert res.syntax_error is None and res.missing is None and res.cheats == [], (cand.stem, res.cheats)


@pytest.mark.skipif(not sandbox.netns_available(), reason="unshare -rn does not work here")
@pytest.mark.parametrize("allowed", [True, False])
def test_netns_start_failure_falls_back(monkeypatch, allowed):
    """If the candidate's process cannot start inside its namespaces, the verifier retries once without
    them -- only where the development setting VERIFIER_ALLOW_UNCONFINED=1 allows it (and says so in
    env.network_isolated and env.unconfined_allowed); otherwise the verdict is infra_error (fail closed)."""
    from verifier import verify as vmod
    from verifier.tests.conftest import request

    if allowed:
        monkeypatch.setenv("VERIFIER_ALLOW_UNCONFINED", "1")
    else:
        monkeypatch.delenv("VERIFIER_ALLOW_UNCONFINED", raising=False)
    real = sandbox.spawn_runner

    def flaky(cfg_path, workdir, env, use_netns, *rest):
        if use_netns:
            return real("/nonexistent/config.json", workdir, env, use_netns, *rest)
        return real(cfg_path, workdir, env, use_netns, *rest)

    monkeypatch.setattr(sandbox, "spawn_runner", flaky)
    v = vmod.verify_request(vmod.parse_request(json.dumps(request("elementwise_add", "add_correct"))))
    if not allowed:
        assert v["status"] == "infra_error" and "refusing to run the candidate unconfined" in v["message"], v
        return
    assert v["status"] == "correct", v["message"]
    assert v["env"]["network_isolated"] is False and v["env"]["unconfined_allowed"] is True


def test_cuda_ipc_descriptors_are_checked_before_anything_is_mapped():
    """The candidate's process writes the descriptors the parent maps: sizes, offsets and types that do
    not add up are refused before torch or the driver see them (the mapping itself needs a GPU)."""
    import torch

    from verifier import cuda_ipc

    good = {cuda_ipc.MARK: True, "dtype": "float32", "size": [4, 4], "stride": [4, 1], "offset": 0,
            "handle": "00" * 64, "storage_size": 64, "storage_offset": 0}
    bad = [
        {"storage_size": 0},                     # empty storage for 16 elements: would hand out fresh memory
        {"storage_size": 60},                    # the tensor reaches past its storage
        {"offset": 1},                           # likewise, by its offset
        {"stride": [5, 1]},                      # likewise, by its strides
        {"offset": -1}, {"storage_offset": -8},  # negative offsets
        {"dtype": "Tensor"}, {"dtype": "__class__"},
        {"size": [4]},                           # size and stride disagree
        {"size": [True, 4]},                     # not integers
    ]
    for change in bad:
        with pytest.raises(ValueError):
            cuda_ipc._open(torch, {**good, **change})
    # a well-formed descriptor gets as far as the mapping, which needs CUDA
    with pytest.raises(Exception) as e:
        cuda_ipc._open(torch, good)
    assert not isinstance(e.value, ValueError) or "CUDA" in str(e.value) or "cuda" in str(e.value)
    assert cuda_ipc.probe_error(torch, good) is not None


def test_cuda_ipc_handles_must_have_this_torchs_layout_for_cudamalloc_memory():
    """torch 2.11 writes a version byte and a type byte before the 64-byte cudaIpcMemHandle_t (a check for
    the bare 64 bytes refused every handle on the first GPU run: outputs went through files); the parent
    compares with a handle of its own and never accepts an expandable segment's ('e'), which names a
    process and descriptors to fetch from it."""
    from verifier.cuda_ipc import handle_ok

    raw = bytes(range(64))
    own_v2 = b"\x02c" + raw
    assert handle_ok(b"\x02c" + bytes(64), own_v2)
    assert not handle_ok(b"\x02e" + bytes(64), own_v2)  # expandable segment
    assert not handle_ok(b"\x03c" + bytes(64), own_v2)  # another torch's version
    assert not handle_ok(bytes(64), own_v2) and not handle_ok(b"\x02c" + bytes(65), own_v2)
    assert handle_ok(bytes(64), raw) and not handle_ok(b"\x02c" + bytes(64), raw)  # torch <= 2.10: bare handles
    assert not handle_ok(b"\x02e" + bytes(64), b"\x02e" + raw)  # own memory not plain cudaMalloc: refuse all
    assert not handle_ok(bytes(8), bytes(8))
