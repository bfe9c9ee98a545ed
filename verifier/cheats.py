"""The cheat classes: one registry, the names a ``rejected`` verdict's ``cheats[].class`` carries.

Each class names the stage(s) that detect it (modules of ``verifier.stages``; ``candidate`` means the
evidence is recorded inside the candidate's process by ``verifier.candidate.harness`` and classified in the
parent by ``verifier.stages.runtime_cheats`` or ``verifier.stages.timing``). The table "Cheat classes" in
docs/verifier.md lists the same classes; ``verifier/tests/test_structure.py`` checks that it does.

``CheatList`` collects what a stage found: one entry per class, later evidence appended to the first.
"""
from __future__ import annotations

import enum
import re

from verifier.wire import CheatItem


class Cheat(str, enum.Enum):
    """A cheat class. ``Cheat.CACHING.value == "caching"``; ``.description`` and ``.stages`` document it."""

    description: str
    stages: tuple[str, ...]
    rejects: bool

    def __new__(cls, value: str, description: str, stages: tuple[str, ...], rejects: bool = True) -> "Cheat":
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.description = description
        obj.stages = stages
        obj.rejects = rejects
        return obj

    STALE_OUTPUT = ("stale-output", "the output still holds the poison written into fresh memory: never written",
                    ("candidate", "runtime_cheats"))
    PARTIAL_OUTPUT = ("partial-output", "part of the output still holds the poison pattern",
                      ("candidate", "runtime_cheats"))
    UNINITIALISED_READ = ("uninitialised-read", "the result depends on what fresh memory held (NaN vs zeros)",
                          ("candidate", "runtime_cheats"))
    INPUT_MUTATION = ("input-mutation", "an input changed after the call", ("runtime_cheats",))
    CACHING = ("caching", "a call on new values in the same buffers returned an earlier result",
               ("runtime_cheats", "timing"))
    THREADS = ("threads", "threads or processes that could work outside the timed call",
               ("static", "candidate"))
    LAZY_TENSOR = ("lazy-tensor", "an output that is not a plain, materialised torch.Tensor",
                   ("candidate", "runtime_cheats"))
    TORCH_FALLBACK = ("torch-fallback", "forward does the work with the reference's own PyTorch ops",
                      ("static", "candidate", "runtime_cheats"))
    TIMER_TAMPER = ("timer-tamper", "the candidate touches the clocks or the profiler that time it",
                    ("static", "candidate"))
    SIDE_STREAM = ("side-stream", "GPU work outside the stream the harness times",
                   ("static", "candidate", "timing"))
    DEGENERATE = ("degenerate", "a constant output that passes only because the true output is tiny",
                  ("runtime_cheats",))
    IMPLAUSIBLE_SPEEDUP = ("implausible-speedup", "a median below the time of writing the output once at the card's copy rate",
                           ("timing",))
    PRECISION_DOWNGRADE = ("precision-downgrade", "not a rejection: a hint in an incorrect verdict whose errors "
                                                  "look like fp16/bf16/TF32 arithmetic", ("correctness",), False)
    SHAPE_HARDCODING = ("shape-hardcoding", "wrong, or failing, on a hidden shape after passing the problem's own",
                        ("correctness",))

    def __str__(self) -> str:
        return self.value


def _norm(t: str) -> str:
    return re.sub(r"seed -?\d+", "seed", t)


def add_cheat(items: list[CheatItem], cls: Cheat | str, evidence: str) -> None:
    """One entry per class; a second piece of evidence is appended to the first (short messages).

    ``cls`` is a ``Cheat``, or the name the candidate's process reported (an observation's ``kind``)."""
    name = cls.value if isinstance(cls, Cheat) else str(cls)
    for c in items:
        if c["class"] == name:
            if _norm(evidence) not in _norm(c["evidence"]) and c["evidence"].count("; ") < 2:
                c["evidence"] = (c["evidence"] + "; " + evidence)[:600]
            return
    items.append({"class": name, "evidence": evidence[:600]})


class CheatList:
    """The cheats one stage found, in the order found."""

    def __init__(self) -> None:
        self.items: list[CheatItem] = []

    def add(self, cls: Cheat | str, evidence: str) -> None:
        add_cheat(self.items, cls, evidence)

    def has(self, cls: Cheat) -> bool:
        return any(c["class"] == cls.value for c in self.items)

    def drop(self, *classes: Cheat) -> None:
        names = {c.value for c in classes}
        self.items = [c for c in self.items if c["class"] not in names]

    def __bool__(self) -> bool:
        return bool(self.items)
