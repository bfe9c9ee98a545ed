"""FlexAttention-style attention variants (verifier/attention.py): validate, render, reference, baselines. CPU only."""
import importlib.util
import json
import re
import runpy
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F

from verifier import attention as A
from verifier.tests.conftest import FIXTURES, REPO, cli

VARIANTS_DIR = REPO / "problems" / "attention" / "variants"
SHIPPED = ["alibi", "alibi_sliding_window", "causal", "neighborhood_2d", "relative_position", "sliding_window_causal",
           "softcap"]
BAD = FIXTURES / "attention"


def spec(name: str) -> str:
    return str(VARIANTS_DIR / f"{name}.py")


def inputs(mod, seed: int = 0):
    torch.manual_seed(seed)
    return mod.get_inputs()


def attention_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "verifier.attention", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_shipped_list_is_complete():
    assert sorted(p.stem for p in VARIANTS_DIR.glob("*.py")) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_variant_validates_renders_and_inspects(name, tmp_path):
    info = A.validate(spec(name))
    assert info["ok"] is True, info
    assert info["id"] == name and info["dtype"] == "float32"
    assert info["shape"]["B"] * info["shape"]["H"] * info["shape"]["S"] <= 4 * 128  # small: interpreter-sized
    src = A.render(spec(name))
    assert max(len(line) for line in src.splitlines()) <= 110
    path = tmp_path / f"{name}.py"
    path.write_text(src)
    r = cli(["inspect", "--problem", str(path)])
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(r.stdout)
    assert got["ok"] is True and got["id"] == name and got["forward_arity"] == 3
    for key in ("B", "H", "S", "D"):
        assert got["constants"][key] == info["shape"][key]
    assert got["constants"]["DTYPE"] == "float32"
    # self-contained: runs with nothing but torch, and the problem's output is finite and really the variant
    spec_ = importlib.util.spec_from_file_location(f"rendered_{name}", path)
    mod = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(mod)
    assert mod.get_init_inputs() == []
    q, k, v = inputs(mod)
    assert q.shape == (info["shape"]["B"], info["shape"]["H"], info["shape"]["S"], info["shape"]["D"])
    out = mod.Model()(q, k, v)
    assert out.shape == q.shape and out.dtype == q.dtype and torch.isfinite(out).all()
    plain = F.scaled_dot_product_attention(q, k, v)
    assert (out - plain).abs().max() > 1e-2, "the variant must change the result visibly"
    assert info["has_mask"] == ("def mask_mod" in src) and info["has_score_mod"] == ("def score_mod" in src)


def test_rendered_source_reads_well():
    src = A.render(spec("alibi"))
    assert src.startswith('"""Attention variant `alibi`.\n\nALiBi (Press et al.')
    assert "problems/attention/variants/alibi.py" in src and re.search(r"edit\s+the\s+spec", src)
    assert "def score_mod(score, b, h, q_idx, kv_idx):\n    slope = torch.exp2(-8.0 * (h + 1) / H)" in src
    assert src.count("import torch\n") == 1  # the spec's own import is not repeated
    compile(src, "alibi_rendered.py", "exec")
    assert "keep.any(dim=-1, keepdim=True)" in src  # fully masked rows
    no_mask = A.render(spec("relative_position"))
    assert "mask_mod" not in no_mask.split('"""', 2)[2] and "keep" not in no_mask


def test_fp32_tolerance_grows_with_the_sequence_length():
    """At S >= 1024 the fp32 reference's own rounding exceeds 1e-4 (scores as large as S): the rendered
    problem carries a wider ATOL/RTOL, still far below what a bf16 computation errs by."""
    from verifier.inspect_problem import problem_info

    assert "ATOL" not in A.render(spec("relative_position"))  # S = 64: the default 1e-4
    for seq, want in ((1024, 1024 * 2.0 ** -21), (4096, 4096 * 2.0 ** -21), (65536, 4e-3)):
        src = A.render(spec("relative_position"), {"S": seq})
        info = problem_info(src, "relative_position")
        assert info["ok"], info
        ns: dict = {}
        exec(compile(src, "rendered.py", "exec"), ns)
        assert ns["ATOL"] == ns["RTOL"] == pytest.approx(want)
        assert 5.7e-4 * 3 < ns["ATOL"] or seq < 4096  # the measured error of a correct kernel fits, with room
    assert "ATOL" not in A.render(spec("relative_position"), {"S": 4096, "DTYPE": "bfloat16"})


def test_relative_position_matches_handwritten_problem():
    hand_spec = importlib.util.spec_from_file_location(
        "hand_rel", REPO / "problems" / "attention" / "relative_position_attention.py")
    hand = importlib.util.module_from_spec(hand_spec)
    hand_spec.loader.exec_module(hand)
    rendered = A.load_problem(spec("relative_position"))
    assert (hand.BATCH, hand.HEADS, hand.SEQ_LEN, hand.HEAD_DIM) == (rendered.B, rendered.H, rendered.S, rendered.D)
    for seed in (0, 1):
        a, b = inputs(hand, seed), inputs(rendered, seed)
        assert all(torch.equal(x, y) for x, y in zip(a, b))  # same get_inputs stream too
        want, got = hand.Model()(*a), rendered.Model()(*a)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_causal_reference_equals_sdpa_is_causal():
    mod = A.load_problem(spec("causal"))
    for seed in (0, 1):
        q, k, v = inputs(mod, seed)
        torch.testing.assert_close(mod.Model()(q, k, v), F.scaled_dot_product_attention(q, k, v, is_causal=True),
                                   rtol=1e-5, atol=1e-5)


EXPECTED_SDPA = {"alibi": "bias tensor", "alibi_sliding_window": "bias tensor", "causal": "is_causal",
                 "neighborhood_2d": "bool mask", "relative_position": "bias tensor",
                 "sliding_window_causal": "bool mask", "softcap": None}


def test_references_agree_with_flex_attention_and_sdpa():
    """The rendered reference has FlexAttention's semantics: compare with flex_attention itself (its eager
    path on CPU) and with the SDPA baseline wherever SDPA can express the variant."""
    warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")
    for name in SHIPPED:
        mod = A.load_problem(spec(name))
        q, k, v = inputs(mod)
        ref = mod.Model()(q, k, v)
        bl = A.baselines(mod, q, k, v, compile=False)
        assert set(bl) == {"flex_attention"} | ({"sdpa"} if EXPECTED_SDPA[name] else set()), name
        torch.testing.assert_close(bl["flex_attention"](), ref, rtol=1e-5, atol=1e-5, msg=name)
        if EXPECTED_SDPA[name]:
            assert bl["sdpa"].how == EXPECTED_SDPA[name] and bl["sdpa"].exact
            torch.testing.assert_close(bl["sdpa"](), ref, rtol=1e-5, atol=1e-5, msg=name)


def test_fully_masked_rows_give_zero_not_nan():
    warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")
    mod = A.load_problem(str(BAD / "first_row_masked.py"))
    q, k, v = inputs(mod)
    out = mod.Model()(q, k, v)
    assert not out.isnan().any()
    assert torch.equal(out[:, :, 0], torch.zeros_like(out[:, :, 0]))  # query 0 has no key
    assert out[:, :, 1:].abs().sum() > 0
    torch.testing.assert_close(A.baselines(mod, q, k, v, compile=False)["flex_attention"](), out)


def test_bf16_bias_is_inexact_past_256():
    """SDPA's bias must be in q's dtype; bf16 holds integers exactly only up to 256."""
    for seq, exact in ((256, True), (512, False)):
        q = k = v = torch.zeros(1, 2, seq, 32, dtype=torch.bfloat16)
        bl = A.baselines(spec("relative_position"), q, k, v, compile=False)
        assert bl["sdpa"].exact is exact and ("inexact in bfloat16" in bl["sdpa"].how) is not exact


def test_baselines_check_module_shape():
    mod = A.load_spec(spec("alibi"))  # H = 2
    q = torch.zeros(1, 4, 64, 32)
    with pytest.raises(ValueError, match="do not match"):
        A.baselines(mod, q, q, q)
    bl = A.baselines(spec("alibi"), q, q, q, compile=False)  # a path is loaded at q's shape
    assert set(bl) == {"flex_attention", "sdpa"}


def test_unmasked_pairs():
    assert A.unmasked_pairs(A.load_spec(spec("causal")), 2, 3, 64, 64) == 2 * 3 * 64 * 65 // 2
    assert A.unmasked_pairs(A.load_spec(spec("softcap")), 1, 2, 64, 64) == 2 * 64 * 64
    # 8 x 8 grid, radius 1: 3 x 3 neighbourhoods cut at the edges: 4 corners x 4 + 24 edge cells x 6 + 36 x 9
    assert A.unmasked_pairs(A.load_spec(spec("neighborhood_2d")), 1, 1, 64, 64) == 4 * 4 + 24 * 6 + 36 * 9


def test_overrides_gpu_shape_render():
    src = A.render(spec("neighborhood_2d"), {"B": 4, "H": 16, "S": 4096, "D": 128, "DTYPE": "bfloat16"})
    assert "S = 4096  # set at render time; the spec has: S = 64" in src
    assert "GRID = (64, 64)  # set at render time" in src and "RADIUS = GRID[1] // 8" in src
    info = A.validate(spec("sliding_window_causal"), {"S": 256, "DTYPE": "bfloat16"})
    assert info["ok"] and info["shape"]["S"] == 256 and info["dtype"] == "bfloat16"
    assert A.load_spec(spec("sliding_window_causal"), {"S": 256}).WINDOW == 64  # WINDOW = S // 4 follows S
    mod = A.load_problem(spec("softcap"), {"S": 32, "DTYPE": "bfloat16"})
    q, k, v = inputs(mod)
    assert q.dtype == torch.bfloat16 and q.shape == (1, 2, 32, 32)
    assert mod.Model()(q, k, v).dtype == torch.bfloat16
    bad = A.validate(spec("neighborhood_2d"), {"S": 128})
    assert not bad["ok"] and "not a perfect square" in bad["error"]
    assert A.validate(spec("neighborhood_2d"), {"S": 128, "GRID": (8, 16)})["ok"]
    bad = A.validate(spec("causal"), {"WINDOW": 3})
    assert not bad["ok"] and "cannot set WINDOW" in bad["error"]


BAD_CASES = [
    ("bad_syntax", "syntax error at line 8"),
    ("bad_no_mods", "no score_mod or mask_mod function"),
    ("bad_score_arity", "score_mod must take exactly 5 positional arguments (score, b, h, q_idx, kv_idx); it takes 3"),
    ("bad_mask_arity", "mask_mod must take exactly 4 positional arguments (b, h, q_idx, kv_idx); it takes 5"),
    ("bad_varargs", "score_mod must take exactly 5 positional arguments"),
    ("bad_score_raises", "score_mod failed on index tensors of shape (1, 2, 8, 8): IndexError"),
    ("bad_score_not_tensor", "score_mod must return a tensor, got float"),
    ("bad_score_int", "score_mod must return a floating-point tensor, got torch.int32"),
    ("bad_score_shape", "score_mod returned shape (1, 2, 8)"),
    ("bad_mask_not_bool", "mask_mod must return a bool tensor, got torch.int32"),
    ("bad_mask_all", "mask_mod masks every (q_idx, kv_idx) pair"),
    ("bad_missing_d", "missing constant D"),
    ("bad_missing_dtype", "missing constant DTYPE"),
    ("bad_b_zero", "B must be a positive int, got 0"),
    ("bad_s_float", "S must be a positive int, got 16.0"),
    ("bad_dtype", "DTYPE must be a string, one of 'float32', 'bfloat16', 'float16'; got 'fp32'"),
    ("bad_grid", "GRID (4, 8) has 32 cells but S = 16"),
    ("bad_import_error", "the spec failed to run (line 8): NameError: name 'HEADS' is not defined"),
    ("bad_defines_model", "line 12: a spec must not define 'get_inputs'"),
    ("bad_top_level_code", "line 7: a spec's top level may hold only imports, constant assignments and functions"),
]


@pytest.mark.parametrize("name,needle", BAD_CASES)
def test_bad_spec_refused(name, needle):
    info = A.validate(str(BAD / f"{name}.py"))
    assert info == {"ok": False, "error": info["error"]}
    assert needle in info["error"] and "\n" not in info["error"]
    with pytest.raises(A.SpecError):
        A.render(str(BAD / f"{name}.py"))


def test_bad_fixture_list_is_complete():
    assert {p.stem for p in BAD.glob("bad_*.py")} == {n for n, _ in BAD_CASES}


def test_missing_file_refused(tmp_path):
    info = A.validate(str(tmp_path / "nope.py"))
    assert not info["ok"] and "cannot read" in info["error"]


def test_cli_validate_and_render(capsys):
    assert A.main(["validate", spec("neighborhood_2d")]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "ok": True, "id": "neighborhood_2d", "has_score_mod": False, "has_mask": True,
        "shape": {"B": 1, "H": 2, "S": 64, "D": 32, "GRID": [8, 8]}, "dtype": "float32"}
    assert A.main(["validate", str(BAD / "bad_mask_arity.py")]) == 1
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1
    assert json.loads(out)["ok"] is False and "mask_mod must take exactly 4" in json.loads(out)["error"]
    assert A.main(["validate", spec("causal"), "--set", "nonsense"]) == 1
    assert "--set wants NAME=VALUE" in json.loads(capsys.readouterr().out)["error"]
    assert A.main(["render", str(BAD / "bad_no_mods.py")]) == 1
    got = capsys.readouterr()
    assert got.out == "" and got.err.strip() == "error: no score_mod or mask_mod function defined at module level"
    # the real entry point, with the GPU shape flags
    r = attention_cli("render", spec("alibi_sliding_window"), "--seq", "4096", "--heads", "16", "--dtype", "bfloat16",
                      "--set", "WINDOW=1024")
    assert r.returncode == 0, r.stderr
    assert A.render(spec("alibi_sliding_window"), {"S": 4096, "H": 16, "DTYPE": "bfloat16", "WINDOW": 1024}) == r.stdout
    assert re.search(r"^WINDOW = 1024  # set at render time; the spec has: WINDOW = S // 4$", r.stdout, re.M)
    assert 'with H=16, S=4096, DTYPE="bfloat16", WINDOW=1024;' in r.stdout


def test_rendered_problem_verifies_with_a_real_kernel(tmp_path):
    """End to end: the rendered relative_position problem through the verifier, with the scripted reply that
    solves the hand-written problem (a flash-attention Triton kernel, run in the interpreter)."""
    from verifier.verify import parse_request, verify_request

    reply = (REPO / "scripted-replies" / "relative_position_attention" / "03.md").read_text()
    code = re.search(r"```python[^\n]*\n(.*?)```", reply, re.S).group(1)
    req = {"problem_id": "relative_position", "problem_source": A.render(spec("relative_position")),
           "candidate_source": code, "backend": "triton", "device": "cpu", "seeds": [0], "timeout_s": 120,
           "timing": False}
    v = verify_request(parse_request(json.dumps(req)))
    assert v["status"] == "correct", v["message"]


def test_module_imports_without_torch():
    code = "import sys, verifier.attention; assert 'torch' not in sys.modules, 'torch imported'"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_bench_script_without_cuda_exits_zero(monkeypatch, capsys):
    script = runpy.run_path(str(REPO / "bench" / "bench_attention_variants.py"), run_name="bench")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(sys, "argv", ["bench_attention_variants.py"])
    assert script["main"]() == 0
    assert "no CUDA" in capsys.readouterr().out
