"""One benchmark runner for every family, in the CLI (`python launch.py bench`) and the studio.

Each family lives in ``benchmarks/bench_<family>.py`` and exposes
``run(*, quick: bool, device: str = "auto", progress=None) -> list[dict]`` returning rows in the JSON shape
documented in ``benchmarks/timing.py`` and the README. The runner adds the real-time verdict, prints one
table with the machine it ran on, writes ``--json`` and appends every run to the local history.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import os
import platform
import traceback
from pathlib import Path
from typing import Callable, Iterable

from lantern_studio.engines.jobs import Progress

FAMILIES = ("mix", "dsp", "composite", "composer", "musicgen", "animatic", "speech", "batch")
VIDEO_FPS = 24.0          # what "real time" means for the fps metric



# ---------------------------------------------------------------------------------------------
# the machine
# ---------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(), "gpu": None}
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - torch is optional for the kernel families
        info["torch"] = None
    try:
        import numba

        info["numba"] = numba.__version__
    except Exception:  # noqa: BLE001
        info["numba"] = None
    return info


# ---------------------------------------------------------------------------------------------
# verdicts and formatting
# ---------------------------------------------------------------------------------------------


def realtime_of(row: dict) -> bool | None:
    """Whether the figure is at least real time (the family may have decided already)."""
    if row.get("realtime") is not None:
        return bool(row["realtime"])
    if row["metric"] == "realtime_factor":
        return row["value"] >= 1.0
    if row["metric"] == "fps":
        return row["value"] >= VIDEO_FPS
    return None


def verdict(row: dict) -> str:
    value, metric = row["value"], row["metric"]
    if not value > 0:
        return "no figure (the scenario did not run)"
    if metric == "realtime_factor":
        if value >= 1.0:
            return f"{value:,.0f}× real time — real time with {value:,.0f}× headroom"
        return f"{value:.2f}× real time — NOT real time ({1 / value:.1f}× too slow)"
    if metric == "fps":
        if value >= VIDEO_FPS:
            return f"{value:,.1f} fps — real time at {VIDEO_FPS:g} fps with {value / VIDEO_FPS:,.1f}× headroom"
        return f"{value:,.1f} fps — NOT real time at {VIDEO_FPS:g} fps"
    if metric == "items_per_minute":
        return f"{value:,.1f} items per minute"
    return f"{value:,.3f} s"


def _figure(value: float, metric: str) -> str:
    if metric == "realtime_factor":
        return f"{value:,.1f}×"
    if metric == "fps":
        return f"{value:,.1f} fps"
    if metric == "items_per_minute":
        return f"{value:,.1f} items/min"
    return f"{value:,.3f} s"


def table_rows(rows: Iterable[dict]) -> list[list[str]]:
    """Rows of text for the printed table and the studio's table."""
    out = []
    for row in rows:
        if row.get("error"):
            out.append([row["family"], row.get("scenario", ""), "failed", "", "", row["error"]])
            continue
        peers = ", ".join(f"{name} {_figure(v, row['metric'])}" for name, v in row["peers"].items())
        skipped = row.get("skipped") or {}
        if skipped:
            peers = ", ".join(filter(None, [peers, *(f"{name} skipped ({why})" for name, why in skipped.items())]))
        ratios = ", ".join(f"{ratio:,.1f}× {name}" if ratio is not None else f"n/a {name}"
                           for name, ratio in row["ratios"].items())
        figure = _figure(row["value"], row["metric"])
        if row.get("roofline_fraction") is not None:
            figure += f" ({row['roofline_fraction']:.0%} of the memory roofline)"
        out.append([row["family"], row["scenario"], figure, peers, ratios, verdict(row)])
    return out


def format_table(rows: list[dict], machine: dict) -> str:
    header = ["family", "scenario", "this project", "peers", "ratios (this / peer)", "verdict"]
    body = table_rows(rows)
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip()
             for line in [header, ["-" * w for w in widths], *body]]
    gpu = machine.get("gpu") or "no GPU"
    lines.append("")
    lines.append(f"machine: {machine['cpu']}, {machine['cores']} cores, {gpu}; python {machine['python']}, "
                 f"torch {machine.get('torch')}, numba {machine.get('numba')}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------


def parse_only(only: str | None) -> tuple[str, ...]:
    if not only:
        return FAMILIES
    names = tuple(name.strip() for name in only.split(",") if name.strip())
    unknown = [name for name in names if name not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown benchmark famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                         f"choose from {', '.join(FAMILIES)}")
    return names


def run_families(families: Iterable[str], *, quick: bool, device: str = "auto",
                 progress: Progress | None = None) -> list[dict]:
    """Run each family and collect its rows. A family that cannot run gives one row with an error."""
    families = list(families)
    rows: list[dict] = []
    for index, family in enumerate(families):
        def family_progress(fraction: float, message: str, _i=index) -> None:
            if progress is not None:
                progress((_i + min(max(fraction, 0.0), 1.0)) / len(families), f"{family}: {message}")

        family_progress(0.0, "starting")
        try:
            module = importlib.import_module(f"lantern_studio.benchmarks.bench_{family}")
        except ModuleNotFoundError as error:
            if error.name != f"lantern_studio.benchmarks.bench_{family}":
                raise
            rows.append({"family": family, "scenario": "", "error": "this benchmark family is not installed"})
            continue
        try:
            family_rows = module.run(quick=quick, device=device, progress=family_progress)
        except Exception as error:  # noqa: BLE001 - one broken family must not hide the others
            rows.append({"family": family, "scenario": "", "error": f"{type(error).__name__}: {error}",
                         "traceback": traceback.format_exc(limit=5)})
            continue
        for row in family_rows:
            row["realtime"] = realtime_of(row)
            rows.append(row)
    if progress is not None:
        progress(1.0, "done")
    return rows


def append_history(path: Path, rows: list[dict], machine: dict, *, quick: bool) -> None:
    """Add one run to the JSON-lines history (one line per run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"time": _dt.datetime.now().isoformat(timespec="seconds"), "quick": quick, "machine": machine,
             "rows": rows}
    # a run killed mid-write leaves a torn last line: start on a fresh line so this entry stays readable
    torn = False
    if path.exists() and path.stat().st_size > 0:
        with open(path, "rb") as existing:
            existing.seek(-1, os.SEEK_END)
            torn = existing.read(1) != b"\n"
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(("\n" if torn else "") + json.dumps(entry, ensure_ascii=False) + "\n")


def read_history(path: Path) -> list[dict]:
    """Every recorded run, oldest first; unreadable lines (a run killed mid-write) are skipped."""
    if not path.exists():
        return []
    runs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            runs.append(json.loads(line))
        except ValueError:
            continue
    return runs


def run_standalone(run: Callable[..., list[dict]], doc: str, *, quick_help: str,
                   argv: list[str] | None = None) -> list[dict]:
    """The shared body of ``python -m benchmarks.bench_<family> [--quick] [--device ...]``: parse the options,
    run the family, print the table and the load the machine was under, and return the rows."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    rows = run(quick=args.quick, device=args.device)
    print(format_table(rows, machine_info()))
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; 1-minute load average "
          f"{load_before:.1f} before and {os.getloadavg()[0]:.1f} after ({os.cpu_count()} cores: other work on "
          "the machine lowers every figure)")
    return rows


def print_progress(fraction: float, message: str) -> None:
    """Progress of a command-line run, one line per step."""
    print(f"[{fraction * 100:5.1f}%] {message}", flush=True)


def main(args, settings) -> int:
    """`python launch.py bench [--quick] [--only ...] [--device ...] [--json FILE]`."""
    from lantern_studio.engines.atomic import atomic_write_json

    try:
        families = parse_only(args.only)
    except ValueError as error:
        print(f"error: {error}")
        return 2

    machine = machine_info()
    rows = run_families(families, quick=args.quick, device=args.device, progress=print_progress)
    print()
    print(format_table(rows, machine))
    if args.json:
        atomic_write_json(args.json, rows)
        print(f"\nrows written to {args.json}")
    append_history(settings.bench_history, rows, machine, quick=args.quick)
    return 1 if any(row.get("error") for row in rows if row.get("error") != "this benchmark family is not installed") \
        else 0


def standalone_main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.runner [--quick] [--only ...] [--device ...] [--json FILE]`: the same run as
    `launch.py bench`, for a machine whose Python already has what the families need (a GPU machine with
    numba, say), without the studio's set-up, settings or run history."""
    parser = argparse.ArgumentParser(description="Lantern Studio benchmarks, without the studio's set-up")
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--only", default=None, help=f"comma list: {','.join(FAMILIES)}")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the machine and rows as JSON")
    args = parser.parse_args(argv)
    try:
        families = parse_only(args.only)
    except ValueError as error:
        parser.error(str(error))
    machine = machine_info()
    rows = run_families(families, quick=args.quick, device=args.device, progress=print_progress)
    print()
    print(format_table(rows, machine))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "rows": rows}, indent=1), encoding="utf-8")
        print(f"\nrows written to {args.json}")
    return 1 if any(row.get("error") for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(standalone_main())
