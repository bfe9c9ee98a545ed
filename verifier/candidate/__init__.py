"""What runs inside the candidate's process -- the untrusted side of the trust boundary.

``runner`` is that process's main (started by the parent as ``python -m verifier._runner``, see
``verifier.sandbox.spawn_runner``); ``harness`` installs the instruments around the candidate (poisoned
memory, launch and stream checks, op recording, the timed calls). The candidate's code runs in the same
process and could tamper with any of it, so nothing here decides a verdict: it records evidence, which the
parent (``verifier.verify`` and ``verifier.stages``) reads with ``weights_only=True`` and judges.

Nothing in this package is imported by the parent except through the modules both sides share
(``verifier.shared``, ``problem_inputs``, ``timing``, ``cuda_ipc``, ``gpu_lock``, ``errors``, ``cuda_build``).
"""
