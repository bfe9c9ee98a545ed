"""The reference the GPU checks compare the verifier's timing with, in the check's own process.

``triton.testing.do_bench_cudagraph``'s method with the cold L2 the verifier uses: a CUDA graph of ``n``
calls, each after an L2 flush, less a graph of the ``n`` flushes alone, over ``n``. Written apart from
``verifier/timing.py`` on purpose (one graph of many calls, its own sample count), so it checks that code
rather than repeating it.
"""
from __future__ import annotations

from typing import Any, Callable

FLUSH_BYTES = 256 * 1024 * 1024


def cold_graph_ms(torch: Any, fn: Callable[[], Any], rep_ms: float = 100.0) -> float:
    flush = torch.empty(FLUSH_BYTES // 4, dtype=torch.int32, device="cuda")
    side = torch.cuda.Stream()

    def graph_of(body: Callable[[], Any], n: int) -> Any:
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, stream=side):
            for _ in range(n):
                body()
        return g

    def replay_ms(g: Any, reps: int = 10) -> float:
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        ts = []
        for _ in range(reps):
            s.record()
            g.replay()
            e.record()
            torch.cuda.synchronize()
            ts.append(s.elapsed_time(e))
        return sorted(ts)[len(ts) // 2]

    fn()
    torch.cuda.synchronize()
    est = replay_ms(graph_of(lambda: (flush.zero_(), fn()), 1), 3)
    n = max(5, min(500, int(rep_ms / max(est, 1e-3))))
    with_call = graph_of(lambda: (flush.zero_(), fn()), n)
    flush_only = graph_of(flush.zero_, n)
    for _ in range(3):  # steady clocks
        replay_ms(with_call, 1)
    return (replay_ms(with_call) - replay_ms(flush_only)) / n
