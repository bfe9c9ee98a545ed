import json

import pytest

from verifier.inspect_problem import inspect_file, problem_info
from verifier.tests.conftest import FIXTURES, cli


def test_inspect_ok():
    info = inspect_file(str(FIXTURES / "problems" / "elementwise_add.py"))
    assert info == {"ok": True, "id": "elementwise_add", "has_model": True, "has_get_inputs": True,
                    "has_get_init_inputs": True, "forward_arity": 2, "constants": {"N": 4096, "SCALE": 0.5}}


def test_inspect_constants_expressions():
    src = ("import torch\nN = 2 ** 12\nM = N // 2\nSHAPE = (N, M)\nDT = torch.float16\nclass Model:\n"
           "    def forward(self, x, y, z):\n        return x\ndef get_inputs():\n    return [1, 2, 3]\n"
           "def get_init_inputs():\n    return []\n")
    info = problem_info(src, "p")
    assert info["ok"] and info["forward_arity"] == 3
    assert info["constants"] == {"N": 4096, "M": 2048, "SHAPE": [4096, 2048]}


def test_inspect_forward_arity_against_get_inputs():
    src = ("class Model:\n    def forward(self, a, b, scale=1.0):\n        return a\n"
           "def get_inputs():\n    return [1, 2, 3, 4]\ndef get_init_inputs():\n    return []\n")
    info = problem_info(src, "p")
    assert info == {"ok": False, "error": "Model.forward takes 3 input(s) but get_inputs() returns 4"}
    # a default parameter may be left out; a computed list is not judged
    assert problem_info(src.replace("[1, 2, 3, 4]", "[1, 2]"), "p")["ok"]
    assert problem_info(src.replace("return [1, 2, 3, 4]", "return make()"), "p")["ok"]


@pytest.mark.parametrize("name,needle", [
    ("syntax_error", "syntax error at line 2"),
    ("no_model", "no class Model"),
    ("no_get_inputs", "get_inputs()"),
    ("no_get_init_inputs", "get_init_inputs()"),
    ("no_forward", "no forward"),
])
def test_inspect_malformed(name, needle):
    info = inspect_file(str(FIXTURES / "malformed" / f"{name}.py"))
    assert info["ok"] is False
    assert needle in info["error"]
    assert "\n" not in info["error"]


def test_inspect_cli_exit_codes(tmp_path):
    r = cli(["inspect", "--problem", str(FIXTURES / "problems" / "row_sum.py")])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["constants"] == {"ROWS": 16, "COLS": 3000}
    r = cli(["inspect", "--problem", str(FIXTURES / "malformed" / "no_model.py")])
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["ok"] is False and out["error"]
    r = cli(["inspect", "--problem", str(tmp_path / "missing.py")])
    assert r.returncode == 1 and json.loads(r.stdout)["ok"] is False
