"""Each cheat class checkable on CPU: a cheating fixture is rejected with its class named, and the
correct twin of the same problem is accepted."""
import pytest

from verifier.tests.conftest import verify

CHEATS = [
    # (problem, cheating candidate, class, words in the evidence)
    ("elementwise_add", "cheat_input_mutation", "input-mutation", "input 0 changed"),
    ("elementwise_add", "cheat_threads_static", "threads", "imports threading"),
    ("elementwise_add", "cheat_threads_dynamic", "threads", "new Python thread"),
    ("elementwise_add", "cheat_lazy_tensor", "lazy-tensor", "not a plain torch.Tensor"),
    ("elementwise_add", "cheat_fallback_no_kernel", "torch-fallback", "no Triton or CUDA-extension kernel"),
    ("elementwise_add", "cheat_fallback_try_except", "torch-fallback", "except-branch"),
    ("elementwise_add", "cheat_fallback_subclass", "torch-fallback", "subclasses Model"),
    ("linear", "linear_fallback_module", "torch-fallback", "linear"),
    ("linear", "linear_fallback_dynamic", "torch-fallback", "reference's own PyTorch op"),
    ("elementwise_add", "cheat_caching", "caching", "previous call's result"),
    ("elementwise_add", "cheat_uninitialised_read", "uninitialised-read", "never wrote"),
    ("tiny_scale", "cheat_degenerate", "degenerate", "constant"),
    ("elementwise_add", "cheat_timer_tamper", "timer-tamper", "time.perf_counter"),
    ("elementwise_add", "cheat_timer_event", "timer-tamper", "elapsed_time"),
    ("elementwise_add", "cheat_stale_output", "stale-output", "never written"),
    ("elementwise_add", "cheat_partial_output", "partial-output", "2048 of 4096"),
    ("elementwise_add", "cheat_side_stream", "side-stream", "torch.cuda.Stream"),
]

TWINS = [
    ("elementwise_add", "add_correct"),
    ("tiny_scale", "scale_correct"),
    ("linear", "linear_correct"),
]


@pytest.mark.parametrize("prob,cand,cls,needle", CHEATS, ids=[c[1] for c in CHEATS])
def test_cheat_rejected(prob, cand, cls, needle):
    v = verify(prob, cand)
    assert v["status"] == "rejected", v["message"]
    found = {c["class"]: c["evidence"] for c in v["cheats"]}
    assert cls in found, v["cheats"]
    assert needle in found[cls], found[cls]
    assert v["message"].startswith("rejected (") and cls in v["message"]


@pytest.mark.parametrize("prob,cand", TWINS, ids=[t[1] for t in TWINS])
def test_correct_twin_accepted(prob, cand):
    v = verify(prob, cand, timing=True)
    assert v["status"] == "correct", v["message"]
    assert v["cheats"] == []


def test_caching_in_timed_calls_is_checked():
    """A candidate that is right for the first few calls and then replays an old result is caught on the
    outputs of the timed calls."""
    v = verify("elementwise_add", "cheat_caching_late", timing=True)
    assert v["status"] == "rejected", v["message"]
    assert [c["class"] for c in v["cheats"]] == ["caching"]
    assert "timed call" in v["cheats"][0]["evidence"]
