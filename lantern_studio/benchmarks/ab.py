"""Before/after comparison of two checkouts of the project, interleaved in one time window.

This VM's memory bandwidth switches between two states within seconds and other jobs share its two cores,
so two benchmark runs minutes apart can differ by more than a change under test. Here each checkout runs
in its own long-lived worker process (``PYTHONPATH`` set to that checkout), and the driver asks them in
turn, round after round (the order alternating), to time one operation with that checkout's own code:

* ``mix``: ``kernels.mix.mix`` on bench_mix's 16-stem, 20 s session into a reused bus (CPU body);
* ``composite_9x16`` and ``composite_16x9``: bench_composite's lantern pipeline over the 24 frames of its
  dissolve (two shots composited, then blended; CPU bodies).

Per operation it prints each side's minimum, median and 10th-90th percentiles, and the median and spread of
the per-round ratio ``old / new`` (above 1: the new code is faster), in wall time and in CPU time (every
thread of the worker: less disturbed by other jobs taking the cores, though not by their memory traffic). Each worker also hashes its outputs
(the mix bus, the reference bus, six composited frames, the limiter, the loudness, a gradient), so equal
digests mean the two checkouts compute bit-identical results.

Usage::

    git worktree add /tmp/before <commit>
    python -m lantern_studio.benchmarks.ab /tmp/before . --rounds 30

Each side's code must still provide ``bench_mix.make_session``, ``bench_composite.make_sources`` and
``lantern_pipeline``, and ``kernels.mix.mix`` taking what its own ``make_session`` returns.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

OPS = ("mix", "composite_9x16", "composite_16x9")


def _worker() -> int:
    """Serve timing requests (one operation name per stdin line) with the code on ``PYTHONPATH``."""
    import hashlib

    import numpy as np

    from lantern_studio.benchmarks.bench_composite import lantern_pipeline, make_sources
    from lantern_studio.benchmarks.bench_mix import make_session
    from lantern_studio.kernels import dsp, fill
    from lantern_studio.kernels.mix import mix

    stems, options = make_session(16, 20.0)
    bus = np.empty((int(20.0 * 48000), 2), np.float32)
    renders = {shape: lantern_pipeline(make_sources(*shape), "cpu") for shape in ((1080, 1920), (1920, 1080))}
    frames = range(48, 72)
    ops = {"mix": lambda: mix(stems, backend="cpu", out=bus, **options),
           "composite_9x16": lambda: [renders[(1080, 1920)](f) for f in frames],
           "composite_16x9": lambda: [renders[(1920, 1080)](f) for f in frames]}
    digest = hashlib.sha256()
    small_stems, small_options = make_session(16, 8.0, seed=3)
    small_bus = mix(small_stems, backend="cpu", **small_options)
    digest.update(small_bus.tobytes())
    digest.update(mix(small_stems, backend="reference", **small_options).tobytes())
    small = lantern_pipeline(make_sources(540, 960), "cpu")
    for f in (0, 30, 55, 60, 70, 119):
        digest.update(small(f).tobytes())
    digest.update(dsp.limit(small_bus, 48000, backend="cpu").tobytes())
    digest.update(np.float64(dsp.integrated_loudness(small_bus, 48000, backend="cpu")).tobytes())
    digest.update(fill.gradient((90, 160), (10, 20, 30), (200, 100, 50), angle_deg=30, backend="cpu").tobytes())
    for op in ops.values():   # compile and warm up
        op()
        op()
    print("ready", digest.hexdigest(), flush=True)
    for line in sys.stdin:
        start, cpu = time.perf_counter(), time.process_time()
        ops[line.strip()]()
        print(time.perf_counter() - start, time.process_time() - cpu, flush=True)
    return 0


def _quantile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[int(p * (len(ordered) - 1))]


def compare(old: Path, new: Path, rounds: int) -> dict:
    """Per operation, side and clock (``"wall"``, or ``"cpu"``: all the worker's threads), the seconds of every
    round, plus each side's output digest."""
    workers = {}
    for side, tree in (("old", old), ("new", new)):
        env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
        workers[side] = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"], cwd=tree,
                                         env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    digests = {side: worker.stdout.readline().split()[-1] for side, worker in workers.items()}
    times = {(op, side, clock): [] for op in OPS for side in workers for clock in ("wall", "cpu")}
    for r in range(rounds):
        for op in OPS:
            for side in (("old", "new") if r % 2 == 0 else ("new", "old")):
                workers[side].stdin.write(op + "\n")
                workers[side].stdin.flush()
                wall, cpu = (float(v) for v in workers[side].stdout.readline().split())
                times[(op, side, "wall")].append(wall)
                times[(op, side, "cpu")].append(cpu)
    for worker in workers.values():
        worker.stdin.close()
        worker.wait()
    return {"times": times, "digests": digests}


def _print_op(label: str, old: list[float], new: list[float]) -> None:
    ratios = [a / b for a, b in zip(old, new)]
    print(f"{label}: old min {min(old) * 1e3:.1f} ms, median {statistics.median(old) * 1e3:.1f} (p10-p90 "
          f"{_quantile(old, 0.1) * 1e3:.1f}-{_quantile(old, 0.9) * 1e3:.1f}); new min {min(new) * 1e3:.1f} ms, median "
          f"{statistics.median(new) * 1e3:.1f} (p10-p90 {_quantile(new, 0.1) * 1e3:.1f}-{_quantile(new, 0.9) * 1e3:.1f}); "
          f"old/new per round: median {statistics.median(ratios):.3f}, p10-p90 {_quantile(ratios, 0.1):.3f}-"
          f"{_quantile(ratios, 0.9):.3f}")


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:] == ["--worker"]:
        return _worker()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="checkout of the code before")
    parser.add_argument("new", type=Path, help="checkout of the code after")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    start = time.strftime("%H:%M:%S", time.gmtime())
    result = compare(args.old, args.new, args.rounds)
    end = time.strftime("%H:%M:%S", time.gmtime())
    print(f"{args.rounds} rounds, {start}-{end} UTC; load average now {os.getloadavg()[0]:.1f}")
    same = result["digests"]["old"] == result["digests"]["new"]
    print(f"outputs: {'bit-identical' if same else 'DIFFER'} ({result['digests']['old'][:16]} / "
          f"{result['digests']['new'][:16]})")
    for op in OPS:
        for clock in ("wall", "cpu"):
            _print_op(f"{op} ({clock})", result["times"][(op, "old", clock)], result["times"][(op, "new", clock)])
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
