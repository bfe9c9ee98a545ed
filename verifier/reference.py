"""The reference side (parent process): load the problem, run ``Model`` on every seed, keep the results.

The reference's results stay in this process, and so does the problem: it is loaded from its source, with
no file a candidate could replace. The candidate's process gets only the job (``Reference.job``:
seeds and output sizes) and builds the same weights and inputs itself (``verifier.problem_inputs``).
A warm verifier (``verifier.service``) keeps a prepared Reference for the next candidate of the same problem.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from verifier.inspect_problem import problem_hash
from verifier.problem_inputs import (
    B_SEED_OFFSET,
    TIMING_SEED_OFFSETS,
    forget_problem,
    init_inputs,
    load_problem_source,
    make_inputs,
    reference_state,
)
from verifier.shared import NON_WORK_ATEN, record_aten_ops


def flatten(out: Any) -> list[Any]:
    items: list[Any] = []

    def rec(o: Any, depth: int = 0) -> None:
        if isinstance(o, torch.Tensor):
            items.append(o.detach())
        elif isinstance(o, (list, tuple)) and depth < 4:
            for x in o:
                rec(x, depth + 1)
        else:
            items.append(o)

    rec(out)
    return items


def _clone(xs: list[Any]) -> list[Any]:
    return [x.clone() if isinstance(x, torch.Tensor) else x for x in xs]


@dataclass
class Trial:
    seed: int
    inputs_a: list[Any]  # kept for the first seed only (timing set, hidden-shape sizes)
    ref_a: list[Any]
    ref_b: list[Any]
    post_a: list[Any]  # inputs after the reference's own call (the reference may mutate them itself)
    model: Any = None
    notes: list[str] = field(default_factory=list)


def cache_key(req: Mapping[str, Any], device: str) -> str:
    return f"{problem_hash(req['problem_source'])}|{device}|{','.join(map(str, req['seeds']))}"


class Reference:
    def __init__(self, req: Mapping[str, Any], device: str):
        self.torch = torch
        self.device = device
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_grad_enabled(False)
        self.pid = req["problem_id"]
        self.seeds = list(req["seeds"])
        self.source = req["problem_source"]
        self.phash = problem_hash(self.source)
        self.key = cache_key(req, device)
        self.name = f"kernel_problem_{self.phash}"
        self.trials: list[Trial] = []
        self.timing_inputs: list[list[Any]] = []
        self.timing_refs: list[list[Any]] = []
        self.work_ops: set[str] = set()
        self.ref_ops: dict[str, int] = {}
        self.out_nbytes = 0
        self.call_s = 0.0  # the reference's longest second call of a seed (the per-call limit's base)
        self.out_sizes: list[int] = []
        self.notes: list[str] = []
        self.mod: Any = None
        self._hidden: dict[str, tuple[Trial | None, str]] = {}

    @classmethod
    def prepared(cls, req: Mapping[str, Any], device: str, lock: Any) -> "Reference":
        """A Reference with every seed run, holding the GPU lock shared meanwhile (it runs kernels)."""
        ref = cls(req, device)
        try:
            lock.acquire("shared")
            ref.prepare()
        except BaseException:
            ref.close()
            raise
        finally:
            lock.release()
        return ref

    def close(self) -> None:
        forget_problem(self.name)
        forget_problem(self.name + "_hidden")

    def _call(self, model: Any, inputs: list[Any]) -> tuple[list[Any], list[Any]]:
        x = _clone(inputs)
        out = flatten(model(*x))
        if self.device == "cuda":
            torch.cuda.synchronize()
        return out, x

    def _model(self, mod: Any, seed: int) -> Any:
        init = init_inputs(torch, mod, seed)
        model, _ = reference_state(torch, mod, seed, init)
        return model.to(self.device)

    def prepare(self) -> None:
        self.mod = load_problem_source(self.source, self.name)
        for i, seed in enumerate(self.seeds):
            model = self._model(self.mod, seed)
            a = make_inputs(torch, self.mod, seed, self.device)
            ref_a, post_a = self._call(model, a)
            b = make_inputs(torch, self.mod, seed + B_SEED_OFFSET, self.device)
            t_call = time.perf_counter()
            ref_b, _ = self._call(model, b)  # a second call: no first-call warm-up in its time
            self.call_s = max(self.call_s, time.perf_counter() - t_call)
            self.trials.append(Trial(seed, a if i == 0 else [], ref_a, ref_b, post_a, model))
            if i == 0:
                self.out_sizes = [t.numel() * t.element_size() for t in ref_a if isinstance(t, torch.Tensor)]
                self.out_nbytes = sum(self.out_sizes)
                known = {0: (a, ref_a), B_SEED_OFFSET: (b, ref_b)}  # the timing sets this seed already made
        t0 = self.trials[0]
        for off in TIMING_SEED_OFFSETS:
            if off not in known:
                x = make_inputs(torch, self.mod, t0.seed + off, self.device)
                known[off] = (x, self._call(t0.model, x)[0])
            self.timing_inputs.append(known[off][0])
            self.timing_refs.append(known[off][1])
        self._record_ops(t0)
        if all(_same(x, y) for x, y in zip(t0.ref_a, t0.ref_b)):
            self.notes.append("the reference's output did not change when the input values changed")

    def _record_ops(self, tr: Trial) -> None:
        try:
            _, ops = record_aten_ops(torch, lambda: self._call(tr.model, tr.inputs_a))
        except Exception:  # noqa: BLE001 - recording is best effort
            return
        self.ref_ops = ops
        self.work_ops = {o for o in ops if o not in NON_WORK_ATEN}

    def job(self, problem_file: str) -> dict[str, Any]:
        """What the candidate's process needs: no tensors, no results (it draws the inputs itself)."""
        return {
            "problem": problem_file,
            "seeds": self.seeds,
            "out_nbytes": self.out_nbytes,
            "out_sizes": self.out_sizes,
            "record_ops": True,
            # CPU mode runs kernels in the interpreter: the zero-memory rerun only on the first seed
            "rerun_all_seeds": self.device == "cuda",
        }

    def hidden_trial(self, variant_source: str) -> tuple[Trial | None, str]:
        """The shape-hardcoding check's trial: the variant problem (smaller size constants) on the first
        seed, built exactly like a regular seed. (None, why) when the check does not apply: the variant
        fails to run, or its inputs are not smaller than the original's. Kept for the next candidate."""
        if variant_source not in self._hidden:
            self._hidden[variant_source] = self._hidden_trial(variant_source)
        return self._hidden[variant_source]

    def _hidden_trial(self, variant_source: str) -> tuple[Trial | None, str]:
        seed = self.trials[0].seed
        name = self.name + "_hidden"
        try:
            mod = load_problem_source(variant_source, name)
            model = self._model(mod, seed)
            a = make_inputs(torch, mod, seed, self.device)
            ref_a, post_a = self._call(model, a)
        except Exception as e:  # noqa: BLE001 - the problem does not allow this shape
            return None, f"the variant reference failed: {type(e).__name__}: {e}"[:300]
        finally:
            forget_problem(name)

        def shapes(xs: list[Any]) -> list[Any]:
            return [tuple(x.shape) if isinstance(x, torch.Tensor) else None for x in xs]

        def numel(xs: list[Any]) -> int:
            return sum(x.numel() for x in xs if isinstance(x, torch.Tensor))

        orig = self.trials[0].inputs_a
        if shapes(a) == shapes(orig):
            return None, "the variant's input shapes equal the original's"
        if numel(a) > numel(orig):
            return None, "the variant's inputs are larger than the original's"
        return Trial(seed, a, ref_a, [], post_a, model), ""

    def hidden_job(self, problem_file: str) -> dict[str, Any]:
        return {"problem": problem_file, "seed": self.trials[0].seed}


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
        return x.shape == y.shape and bool(torch.equal(x, y))
    return x == y
