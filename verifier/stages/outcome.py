"""What one stage hands to the next (see ``verifier.stages``), and ``Final``: the verdict, no later stage."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from verifier.wire import Correctness, Verdict


@dataclass
class Final:
    """A verification's verdict: no later stage runs."""
    verdict: Verdict


@dataclass
class Checked:
    """``static`` -> ``build``: the static check's findings (``verifier.static_check.StaticResult``)."""
    static: Any


@dataclass
class Imported:
    """``build`` -> ``correctness``: the candidate is imported; the reference is prepared."""
    import_s: float  # the import's seconds, as the candidate's process measured them


@dataclass
class Compared:
    """One seed's two regular calls, compared with the reference (``verifier.compare.Cmp``)."""
    seed: int
    rec: dict[str, Any]  # what the candidate's process recorded for this seed
    trial: Any  # verifier.reference.Trial
    c1: Any
    c2: Any


@dataclass
class Seeds:
    """``correctness.run_seeds`` -> ``runtime_cheats``: every seed compared, the correctness summary."""
    res: dict[str, Any]  # the candidate's process's results (observations, ops, launches)
    compared: list[Compared]
    correctness: Correctness
    passed: int
    trials: int
    first_fail: str | None = None
    hint: str | None = None


@dataclass
class Correct:
    """``runtime_cheats`` -> ``correctness.hidden_shape`` -> ``timing``: correct so far."""
    message: str
    notes: list[str] = field(default_factory=list)
