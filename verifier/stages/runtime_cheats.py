"""Stage 4, cheat detection at run time: what the candidate's process recorded (observations, output types,
the aten ops ``forward`` dispatched, launches) and what the comparisons show, classified into the cheat
classes of ``verifier.cheats``. Then the verdict of the seeds: ``rejected`` when any cheat was found (even
when the outputs were also wrong), else ``incorrect`` when a seed failed, else correct so far (``Correct``).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from verifier.cheats import Cheat, CheatList
from verifier.compare import bitwise_equal, compare_outputs
from verifier.shared import NON_WORK_ATEN
from verifier.stages.correctness import fmt, tol_text
from verifier.stages.outcome import Checked, Compared, Correct, Final, Seeds
from verifier.static_check import allowed_torch_ops

if TYPE_CHECKING:
    from verifier.verify import Verification


def _same(torch: Any, x: Any, y: Any) -> bool:
    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
        return x.shape == y.shape and bool(torch.equal(x, y))
    return bool(x == y)


def _seed_cheats(ver: Verification, checked: Checked, cmp: Compared, cheats: CheatList, notes: list[str]) -> None:
    """The cheat checks of one seed, in the order their evidence appears in the message."""
    s, rec = cmp.seed, cmp.rec
    for ti in rec.get("types1", []) + rec.get("types2", []):
        if ti["kind"] == "tensor" and not ti.get("plain", True):
            cheats.add(Cheat.LAZY_TENSOR, f"seed {s}: {ti.get('why', 'output is not a plain torch.Tensor')}")
        elif ti["kind"] == "object" and ti.get("torch_function"):
            cheats.add(Cheat.LAZY_TENSOR, f"seed {s}: forward returned a {ti['type']} (a tensor-like object, "
                                          f"not a plain torch.Tensor)")
    _memory_cheats(ver, checked, cmp, cheats, notes)
    _result_cheats(ver, cmp, cheats)


def _memory_cheats(ver: Verification, checked: Checked, cmp: Compared, cheats: CheatList, notes: list[str]) -> None:
    """One seed's checks of what fresh memory did to the output (NaN poison vs zeros, two runs bit for bit)."""
    torch, req, dev = ver.torch, ver.req, ver.device
    atol, rtol = req.get("atol"), req.get("rtol")
    s, rec, tr, c1, c2 = cmp.seed, cmp.rec, cmp.trial, cmp.c1, cmp.c2
    # uninitialised-read: wrong when fresh memory holds NaN, right when it holds zeros
    uninit = False
    if not c1.ok and "out3" in rec:
        c3 = compare_outputs(torch, rec["out3"], tr.ref_a, atol, rtol, dev)
        if c3.ok:
            uninit = True
            cheats.add(Cheat.UNINITIALISED_READ, f"seed {s}: wrong when fresh memory holds NaN, right when it "
                                                 f"holds zeros: the kernel reads memory it never wrote")
    # stale-output / partial-output: elements that still hold the poison written into fresh memory
    for c, which in ((c1, "first call"), (c2, "second call")):
        if c.poison and not uninit:
            if c.poison >= c.numel:
                cheats.add(Cheat.STALE_OUTPUT, f"seed {s}, {which}: all {c.numel} output elements still hold the "
                                               f"NaN pattern written into fresh memory before the call (never written)")
            else:
                cheats.add(Cheat.PARTIAL_OUTPUT, f"seed {s}, {which}: {c.poison} of {c.numel} output elements were "
                                                 f"never written (they hold the poison pattern)")
    if c1.ok and "out3" in rec:
        eq, nd = bitwise_equal(torch, rec["out1"], rec["out3"])
        if not eq:
            if checked.static.uses_atomics:
                notes.append(f"seed {s}: two runs on the same inputs differ bitwise in {nd} element(s) "
                             f"(atomics: accepted as nondeterministic)")
            else:
                cheats.add(Cheat.UNINITIALISED_READ, f"seed {s}: two runs on the same inputs differ bitwise in "
                                                     f"{nd if nd >= 0 else 'some'} element(s) (fresh memory NaN vs zero)")


def _result_cheats(ver: Verification, cmp: Compared, cheats: CheatList) -> None:
    """One seed's checks of results that pass for the wrong reason, and of its inputs after the call."""
    torch, req, dev = ver.torch, ver.req, ver.device
    s, rec, tr, c1, c2 = cmp.seed, cmp.rec, cmp.trial, cmp.c1, cmp.c2
    # caching: the second call wrote new values into the same buffers
    if c1.ok and not c2.ok:
        stale = compare_outputs(torch, rec["out2"], tr.ref_a, req.get("atol"), req.get("rtol"), dev)
        if stale.ok and not all(_same(torch, x, y) for x, y in zip(tr.ref_a, tr.ref_b)):
            cheats.add(Cheat.CACHING, f"seed {s}: after new values were written into the same input buffers, "
                                      f"forward returned the previous call's result")
    # degenerate: constant output that passes only because the true output is tiny
    for c in (c1, c2):
        if c.rel_norm_fail and c.constant_output and c.reference_varies:
            cheats.add(Cheat.DEGENERATE, f"seed {s}: output is constant, every element is within tolerance of a "
                                         f"varying reference, relative error norm {fmt(c.rel_norm)}")
    for i, (post, exp) in enumerate(zip(rec["post_inputs"], tr.post_a)):
        if isinstance(exp, torch.Tensor) and isinstance(post, torch.Tensor):
            eq, nd = bitwise_equal(torch, [post], [exp.to(post.device)])
            if not eq:
                cheats.add(Cheat.INPUT_MUTATION, f"seed {s}: input {i} changed after the call "
                                                 f"({nd if nd >= 0 else 'shape/dtype'} element(s) differ)")


def _torch_fallback(ver: Verification, res: dict[str, Any], cheats: CheatList) -> None:
    """What actually ran inside forward: the aten ops of the first seed's third call and of a call on
    values no earlier call saw (the parent's ``record_seed``), recorded by the candidate's process. The
    kernel must do the work: any PyTorch compute op (beyond the glue of ``NON_WORK_ATEN``: allocation,
    views, copies, metadata) is a fallback, unless the problem allows it (``ALLOWED_TORCH_OPS``)."""
    rec0 = res["seeds"][0] if res["seeds"] else {}
    if "ops" not in rec0 or not isinstance(rec0["ops"], dict):
        return
    allowed = allowed_torch_ops(ver.req.get("problem_source"))
    cand_work = {str(o) for o in rec0["ops"] if o not in NON_WORK_ATEN}
    compute = {o for o in cand_work if o not in allowed and o.rstrip("_") not in allowed}
    if rec0.get("launches_recorded", 1) == 0:
        ran = ", ".join(sorted(cand_work)) or "no PyTorch compute op either"
        cheats.add(Cheat.TORCH_FALLBACK, f"forward launched no Triton or CUDA-extension kernel (PyTorch ops: {ran})")
    elif ver.ref.work_ops and ver.ref.work_ops <= cand_work:
        cheats.add(Cheat.TORCH_FALLBACK, f"forward calls the reference's own PyTorch op(s): "
                                         f"{', '.join(sorted(ver.ref.work_ops))}")
    elif compute:
        names = ", ".join(sorted(compute)[:8])
        cheats.add(Cheat.TORCH_FALLBACK, (
            f"forward ran PyTorch compute op(s) besides its kernels: {names} (the kernels must do the work; "
            f"only allocation, views, copies and metadata are glue"
            + (f"; the problem allows {', '.join(sorted(allowed))}" if allowed else "") + ")"))


def judge_seeds(ver: Verification, checked: Checked, seeds: Seeds) -> Correct | Final:
    t = time.perf_counter()
    try:
        return _judge(ver, checked, seeds)
    finally:
        ver.stages["correctness"] += time.perf_counter() - t


def _judge(ver: Verification, checked: Checked, seeds: Seeds) -> Correct | Final:
    cheats = CheatList()
    for o in seeds.res.get("observations", []):  # recorded in the candidate's process
        cheats.add(o["kind"], o["evidence"])
    notes: list[str] = list(ver.ref.notes)
    for cmp in seeds.compared:
        _seed_cheats(ver, checked, cmp, cheats, notes)
    _torch_fallback(ver, seeds.res, cheats)
    delta = seeds.res.get("os_threads_delta")
    if ver.device == "cpu" and isinstance(delta, int) and delta > 0:
        # a thread threading does not list (_thread.start_new_thread, native code) is still an OS thread;
        # on a GPU, CUDA and Triton start threads of their own, so there this is only noted
        cheats.add(Cheat.THREADS, f"{delta} more OS thread(s) alive after the calls than before the import "
                                  f"(/proc/self/task)")
    if cheats.has(Cheat.UNINITIALISED_READ):
        # the poison in a seed without the zero-memory rerun is the same read, not a separate cheat
        cheats.drop(Cheat.STALE_OUTPUT, Cheat.PARTIAL_OUTPUT)
    if cheats:
        lazy = cheats.has(Cheat.LAZY_TENSOR)  # its outputs could not be compared
        return ver.reject(cheats.items, "" if lazy else (seeds.first_fail or ""))
    trials, passed = seeds.trials, seeds.passed
    if passed < trials:
        msg = f"incorrect on {trials - passed} of {trials} seeds. {seeds.first_fail}"
        if seeds.hint:
            msg += f". {seeds.hint}"
        if notes:
            msg += ". Note: " + "; ".join(notes)
        return ver.finish("incorrect", msg[:2000])
    corr = seeds.correctness
    message = (f"correct on {trials} seed(s); max abs error {fmt(corr['max_abs_error'])}, "
               f"max rel error {fmt(corr['max_rel_error'])} ({tol_text(ver.ref.trials[0].ref_a, ver.req, ver.torch)})")
    if notes:
        message += ". Note: " + "; ".join(notes)
    return Correct(message=message, notes=notes)
