"""The stages of a verification, in the order a candidate meets them (all run in the parent).

  ``static``          the problem parses; ``ast`` checks of the candidate (syntax, ``ModelNew``, static cheats)
  ``build``           the candidate's process starts and imports the candidate (CUDA builds happen here);
                      meanwhile the parent prepares the reference
  ``correctness``     every seed runs, the outputs are compared (``run_seeds``); later one hidden shape
                      (``hidden_shape``, the shape-hardcoding check)
  ``runtime_cheats``  what the candidate's process recorded and the comparisons show: cheats, then
                      incorrect or correct so far
  ``timing``          the timed calls, the checks on them (side-stream, caching, implausible-speedup),
                      the baselines and speedups

``verifier.verify.Verification._run`` calls them in turn. Each takes the ``Verification`` (request and
shared state) and what the stage before it returned, and returns either what the next stage needs (the
dataclasses of ``verifier.stages.outcome``) or a ``Final`` verdict. The verdict is written only through ``Verification``'s methods
(``finish``, ``reject``, ``set_correctness``, ``set_timing``, ``set_env``, ``note``).
"""
