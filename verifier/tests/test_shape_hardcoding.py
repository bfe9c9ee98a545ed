"""shape-hardcoding: the candidate runs once more on the problem with its size constants shrunk."""
from verifier.inspect_problem import shape_variant, smaller_size
from verifier.tests.conftest import problem, verify


def test_hardcoded_size_rejected():
    v = verify("elementwise_add", "cheat_shape_hardcoding")
    assert v["status"] == "rejected", v["message"]
    assert [c["class"] for c in v["cheats"]] == ["shape-hardcoding"]
    ev = v["cheats"][0]["evidence"]
    assert "N=4096->2048" in ev and "shape [4096]" in ev, ev


def test_generic_twin_accepted():
    v = verify("elementwise_add", "add_correct")
    assert v["status"] == "correct", v["message"]


def test_problem_without_size_constants_unaffected():
    assert shape_variant(problem("literal_add")) is None
    v = verify("literal_add", "cheat_shape_hardcoding")
    assert v["status"] == "correct", v["message"]


def test_variant_rules():
    assert [smaller_size(c) for c in (4096, 3000, 48, 100, 64)] == [2048, 2248, 32, 72, 32]
    src = ("import torch\nB = 16\nN = 4096\nD = 64\nK = 1000\nSHAPE = (N, 128)\nTOTAL = N * 2\n"
           "class Model(torch.nn.Module):\n    def forward(self, x):\n        return x * K\n"
           "def get_inputs():\n    return [torch.randn(B, N, D)]\ndef get_init_inputs():\n    return []\n")
    new, changes = shape_variant(src)
    # B: 16 -> 8 is below the floor of 16; K is read by Model (a candidate could not know a new value)
    assert changes == [("N", 4096, 2048), ("D", 64, 32), ("SHAPE", 128, 64)]
    assert "N = 2048\nD = 32\nK = 1000\nSHAPE = (N, 64)\nTOTAL = N * 2\n" in new
