"""``python launch.py batch PLAN``: render a plan's music takes and animatics as Ray tasks.

PLAN is a TOML plan or a folder of scripts (see :mod:`lantern_studio.engines.batch.plan`). The plan is read
and checked whole before anything runs; then a progress bar counts items while Ray runs them, locally on
loopback or on the cluster ``--address`` names. Exit status: 0 every item made or already there, 1 some
failed or were cancelled, 2 bad input (a plan mistake or an unreachable cluster), 130 Ctrl+C.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

INTERRUPTED_STATUS = 130


def plan_defaults(args: Any) -> dict:
    """The item fields the command line gives every item that does not set them."""
    return {"format": getattr(args, "format", None), "fps": getattr(args, "fps", None),
            "no_video": True if getattr(args, "no_video", False) else None,
            "music_preset": getattr(args, "music_preset", None)}


def run(args: Any, settings: Any) -> int:
    from lantern_studio.engines.batch.plan import PlanError, load_plan
    from lantern_studio.engines.batch.ray_run import BatchConnectError, run_batch

    try:
        plan = load_plan(args.plan, defaults=plan_defaults(args),
                         project_dir=getattr(args, "project", None) or settings.project_dir)
    except PlanError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    plan_path = Path(args.plan).expanduser()
    out = Path(args.out).expanduser() if getattr(args, "out", None) else (
        plan.out_dir or (plan_path if plan_path.is_dir() else plan_path.parent) / "batch-out")
    workers = getattr(args, "workers", None)
    if workers is not None and workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    print(f"{plan.source}: {len(plan.items)} item(s) into {out}", flush=True)

    from tqdm import tqdm

    bar = tqdm(total=len(plan.items), unit="item", desc="batch", file=sys.stderr, dynamic_ncols=True)

    def progress(finished: int, total: int, message: str) -> None:
        bar.update(finished - bar.n)
        bar.set_postfix_str(message[:60], refresh=True)

    try:
        report = run_batch(plan, out, settings, address=getattr(args, "address", None), num_workers=workers,
                           max_retries=int(getattr(args, "retries", 2)), progress=progress)
    except BatchConnectError as error:
        bar.close()
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        bar.close()
        print("interrupted before the items started; nothing was written", file=sys.stderr)
        return INTERRUPTED_STATUS
    bar.close()
    for result in report.results:
        line = f"{result.status:>9}  {result.name}"
        if result.files:
            line += f"  ({len(result.files)} files in {out / result.name})"
        if result.error:
            line += f"\n           {result.error}"
        print(line, flush=True)
    print(f"{report.count('done')} made, {report.count('skipped')} already there, {report.count('failed')} failed, "
          f"{report.count('cancelled')} cancelled" + (f", on {report.workers} worker(s)" if report.workers else ""),
          flush=True)
    if report.interrupted:
        print("stopped: the finished items are kept; run the same command again to make the rest", file=sys.stderr)
        return INTERRUPTED_STATUS
    return 0 if report.ok else 1
