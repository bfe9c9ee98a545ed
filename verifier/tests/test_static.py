"""Static checks: fast, nothing runs."""
import pytest

from verifier.static_check import check_candidate
from verifier.tests.conftest import candidate, problem


def classes(res):
    return [c["class"] for c in res.cheats]


@pytest.mark.parametrize("prob,cand", [
    ("elementwise_add", "add_correct"),
    ("tiny_scale", "scale_correct"),
    ("row_sum", "rowsum_loop"),
    ("linear", "linear_correct"),
    ("elementwise_add", "cheat_input_mutation"),  # only visible at run time
])
def test_clean_candidates_pass_static(prob, cand):
    res = check_candidate(candidate(cand), problem(prob))
    assert res.syntax_error is None and res.missing is None
    assert res.cheats == []


@pytest.mark.parametrize("cand,cls,needle", [
    ("cheat_threads_static", "threads", "imports threading"),
    ("cheat_timer_tamper", "timer-tamper", "time.perf_counter"),
    ("cheat_timer_event", "timer-tamper", "elapsed_time"),
    ("cheat_side_stream", "side-stream", "torch.cuda.Stream"),
    ("cheat_fallback_subclass", "torch-fallback", "subclasses Model"),
    ("cheat_fallback_try_except", "torch-fallback", "except-branch"),
])
def test_static_cheats(cand, cls, needle):
    res = check_candidate(candidate(cand), problem("elementwise_add"))
    assert cls in classes(res), res.cheats
    ev = next(c["evidence"] for c in res.cheats if c["class"] == cls)
    assert needle in ev and "candidate.py:" in ev


def test_static_fallback_calls_reference_module():
    res = check_candidate(candidate("linear_fallback_module"), problem("linear"))
    assert classes(res) == ["torch-fallback"]
    assert "linear" in res.cheats[0]["evidence"]


def test_static_allocation_is_not_fallback():
    src = candidate("add_correct").replace("out = torch.empty_like(a)",
                                           "out = torch.zeros_like(a)\n        tmp = torch.empty(4)")
    assert check_candidate(src, problem("elementwise_add")).cheats == []


def test_static_matmul_operator_fallback():
    prob = ("import torch\nimport torch.nn as nn\nclass Model(nn.Module):\n    def forward(self, a, b):\n"
            "        return torch.matmul(a, b)\ndef get_inputs():\n    return []\ndef get_init_inputs():\n    return []\n")
    cand = ("import torch\nimport torch.nn as nn\nclass ModelNew(nn.Module):\n    def forward(self, a, b):\n"
            "        return a @ b\n")
    res = check_candidate(cand, prob)
    assert classes(res) == ["torch-fallback"]


def test_static_cpp_sources():
    prob = ("import torch\nimport torch.nn as nn\nclass Model(nn.Module):\n    def forward(self, a, b):\n"
            "        return torch.matmul(a, b)\ndef get_inputs():\n    return []\ndef get_init_inputs():\n    return []\n")
    cand = '''import torch
from torch.utils.cpp_extension import load_inline
cuda_src = """
#include <thread>
torch::Tensor mm(torch::Tensor a, torch::Tensor b) {
    std::thread t([]{});
    t.join();
    return torch::matmul(a, b);
}
"""
ext = load_inline(name="mm", cpp_sources="torch::Tensor mm(torch::Tensor a, torch::Tensor b);",
                  cuda_sources=cuda_src, functions=["mm"])
class ModelNew(torch.nn.Module):
    def forward(self, a, b):
        return ext.mm(a, b)
'''
    res = check_candidate(cand, prob, "cuda")
    assert set(classes(res)) == {"threads", "torch-fallback"}


def test_static_syntax_error_and_missing_modelnew():
    res = check_candidate(candidate("add_syntax_error"), problem("elementwise_add"))
    assert res.syntax_error and res.syntax_error.startswith("candidate.py:22: SyntaxError")
    res = check_candidate(candidate("add_no_modelnew"), problem("elementwise_add"))
    assert res.missing and "ModelNew" in res.missing


def test_static_process_functions():
    src = candidate("add_correct").replace("import torch\n", "import torch\nimport os\n", 1) + "\nos.system('true')\n"
    assert classes(check_candidate(src, problem("elementwise_add"))) == ["threads"]


def test_kernel_names_and_atomics():
    res = check_candidate(candidate("add_correct"), problem("elementwise_add"))
    assert res.kernel_names == ["axpy_kernel"] and res.uses_atomics is False
    src = candidate("add_correct").replace("tl.store(out_ptr + offs, a + b * scale, mask=mask)",
                                           "tl.atomic_add(out_ptr + offs, a + b * scale, mask=mask)")
    assert check_candidate(src, problem("elementwise_add")).uses_atomics is True
