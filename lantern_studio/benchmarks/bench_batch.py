"""Benchmark family "batch": items per minute through ``launch.py batch`` on a local Ray, one worker and two.

Scenario: N composer takes (dragon-boat, 8 s, distinct seeds, every file the ``compose`` command writes) run
as Ray tasks on loopback, their files sent back to the driver and written atomically, exactly as
``launch.py batch`` does. Each worker count gets a warm-up round first (worker start-up, imports, the numba
cache), then the timed batch. The row's figure is the two-worker rate; its peer is the one-worker rate, so
the ratio is the speed-up, and the scenario states the scaling efficiency (speed-up / 2).

Run standalone: ``python -m lantern_studio.benchmarks.bench_batch [--quick]``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from lantern_studio.benchmarks.timing import make_row

PRESET = "dragon-boat"
TAKE_DURATION_S = 8.0
WORKER_COUNTS = (1, 2)


def _plan(folder: Path, seeds: list[int]):
    from lantern_studio.engines.batch.plan import load_plan

    path = folder / f"plan-{seeds[0]}.toml"
    path.write_text(f'[[music]]\nname = "bench"\npreset = "{PRESET}"\nseeds = {seeds}\n'
                    f"duration_s = {TAKE_DURATION_S}\n", encoding="utf-8")
    return load_plan(path)


def _items_per_minute(workers: int, items: int, folder: Path, settings, step) -> float:
    from lantern_studio.engines.batch.ray_run import RaySession, run_batch

    with RaySession(num_workers=workers):
        step(f"batch: {workers} worker(s), warm-up")
        run_batch(_plan(folder, list(range(1000 * workers, 1000 * workers + workers))), folder / "warm", settings)
        step(f"batch: {workers} worker(s), {items} items")
        plan = _plan(folder, list(range(2000 * workers, 2000 * workers + items)))
        start = time.perf_counter()
        report = run_batch(plan, folder / f"out-{workers}", settings)
        seconds = time.perf_counter() - start
    if not report.ok:
        failed = [f"{r.name}: {r.error}" for r in report.results if r.status != "done"]
        raise RuntimeError(f"batch items failed: {failed[0]}")
    return items * 60.0 / seconds


def run(*, quick: bool, device: str = "auto", progress=None) -> list[dict]:
    """Benchmark rows (see benchmarks/timing.py) for the batch. ``device`` is ignored: items run on CPUs."""
    from lantern_studio.engines.settings import Settings

    items = 4 if quick else 8
    rates = {}
    with tempfile.TemporaryDirectory(prefix="lantern-bench-batch-") as scratch:
        folder = Path(scratch)
        settings = Settings.resolve(None, environ={"LANTERN_HOME": str(folder / "home")})
        for index, workers in enumerate(WORKER_COUNTS):
            def step(message: str, _i=index) -> None:
                if progress is not None:
                    progress(_i / len(WORKER_COUNTS), message)

            rates[workers] = _items_per_minute(workers, items, folder, settings, step)
    speedup = rates[2] / rates[1]
    return [make_row(
        family="batch",
        scenario=(f"{items} composer takes ({PRESET}, {TAKE_DURATION_S:.0f} s, all files) as Ray tasks on a local "
                  f"Ray (loopback): 2 workers vs 1; speed-up {speedup:.2f}x, scaling efficiency {speedup / 2:.0%}"),
        metric="items_per_minute", value=rates[2], spread=(rates[2], rates[2]),
        peers={"1 worker": rates[1]}, device="cpu")]


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    for row in run(quick=parser.parse_args().quick):
        print(row)
