"""MusicGen generation speed: the studio's engine against calling audiocraft directly.

Scenarios:

- **tiny model, through the engine vs raw audiocraft.** A tiny MusicGen (built with audiocraft's builders,
  saved as a real checkpoint folder and loaded through the engine's loading path) generates one take; the
  peer is the same checkpoint driven directly (``set_generation_params`` + ``torch.manual_seed`` +
  ``generate``). Metric: real-time factor (seconds of audio per second of work). The ratio engine/raw shows
  the engine's overhead (progress, cancel checks, resampling to 48 kHz stereo, the take's recipe); the target
  is at most 5 % (ratio >= 0.95). A second row gives LM frames per second (tokens/s per codebook).
- **musicgen-small's published shape on a CUDA GPU** (1024 wide, 24 layers, 16 heads, 4 x 2048 codebooks at
  50 Hz, EnCodec 32 kHz; random weights, as speed does not depend on them): real-time factor of raw
  audiocraft in fp16 and of the engine on the same model, with the GPU's name. Skipped with the reason when
  no CUDA GPU is present (reported under the first row's ``skipped``).

Runs are interleaved (engine, raw, engine, raw, ...) so that load from other processes hits both alike; on the
CPU a third row gives the CPU time per take (process time), which shows the overhead steadily when the machine
is shared.
Standalone: ``python -m benchmarks.bench_musicgen [--quick] [--device auto|cpu|cuda]``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from lantern_studio.benchmarks.timing import Timing, figure, make_row

FAMILY = "musicgen"


def _interleaved(works: dict, *, repeats: int, warmup: int = 1) -> tuple[dict[str, Timing], dict[str, Timing]]:
    """(wall-clock timings, CPU-time timings) per work, runs interleaved."""
    for work in works.values():
        for _ in range(warmup):
            work()
    wall: dict[str, list[float]] = {name: [] for name in works}
    cpu: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(repeats):
        for name, work in works.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            work()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return ({name: Timing(tuple(values)) for name, values in wall.items()},
            {name: Timing(tuple(values)) for name, values in cpu.items()})


def _raw_generate(model, prompt: str, duration_s: float, seed: int, top_k: int):
    import torch

    model.set_generation_params(top_k=top_k, duration=duration_s)
    torch.manual_seed(seed)
    return model.generate([prompt]).cpu()   # on a GPU, waits for the queued work as the engine's copy does


def _engine_vs_raw(engine, folder: Path, *, model_name: str, duration_s: float, repeats: int, device: str,
                   label: str) -> list[dict]:
    from audiocraft.models import MusicGen, loaders

    from lantern_studio.engines.music.base import GenerationRequest
    from lantern_studio.engines.music.musicgen_models import ModelLocation, inspect_model

    info = inspect_model(ModelLocation(model_name, folder, "path"))
    # the peer: the checkpoint loaded and driven with audiocraft's own API only
    raw = MusicGen(model_name, loaders.load_compression_model(str(folder), device=device),
                   loaders.load_lm_model(str(folder), device=device))
    engine.load(model_name)
    top_k = min(250, info.card)
    request = GenerationRequest(prompt="lantern festival parade, gongs and suona", duration_s=duration_s, seed=1,
                                params={"model": model_name})
    timings, cpu_timings = _interleaved({
        "engine": lambda: engine.generate(request, progress=lambda f, m: None, cancel=lambda: False),
        "raw": lambda: _raw_generate(raw, request.prompt, duration_s, 1, top_k),
    }, repeats=repeats)
    value, spread = figure(timings["engine"], "realtime_factor", amount=duration_s)
    raw_value, _ = figure(timings["raw"], "realtime_factor", amount=duration_s)
    rows = [make_row(family=FAMILY, scenario=f"{label}: {duration_s:g} s take, engine vs raw audiocraft",
                     metric="realtime_factor", value=value, spread=spread,
                     peers={"audiocraft (direct)": raw_value}, device=device, realtime=value >= 1.0)]
    frames = duration_s * info.frame_rate
    fps_value, fps_spread = figure(timings["engine"], "fps", amount=frames)
    raw_fps, _ = figure(timings["raw"], "fps", amount=frames)
    rows.append(make_row(family=FAMILY, scenario=f"{label}: LM frames/s (tokens/s per codebook, "
                                                 f"{info.n_q} codebooks at {info.frame_rate:g} Hz)",
                         metric="fps", value=fps_value, spread=fps_spread, peers={"audiocraft (direct)": raw_fps},
                         device=device, realtime=fps_value >= info.frame_rate))
    if device == "cpu":
        # wall time on a shared machine swings with other processes' load; CPU time shows the overhead steadily
        cpu_value, cpu_spread = figure(cpu_timings["engine"], "seconds")
        raw_cpu, _ = figure(cpu_timings["raw"], "seconds")
        rows.append(make_row(family=FAMILY, scenario=f"{label}: CPU seconds per {duration_s:g} s take "
                                                     "(process time)",
                             metric="seconds", value=cpu_value, spread=cpu_spread,
                             peers={"audiocraft (direct)": raw_cpu}, device=device, realtime=cpu_value <= duration_s))
    return rows


def run(*, quick: bool, device: str = "auto", progress=None) -> list[dict]:
    """Benchmark rows (see the module docstring). ``device``: ``"auto"``, ``"cpu"`` or ``"cuda"``."""
    def step(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    rows: list[dict] = []
    try:
        import torch
        from audiocraft.models import MusicGen  # noqa: F401 - checks audiocraft is usable
    except ImportError as error:
        return [make_row(family=FAMILY, scenario="MusicGen (audiocraft)", metric="realtime_factor", value=0.0,
                         spread=(0.0, 0.0), peers={}, device="cpu",
                         skipped={"audiocraft": f"not installed ({error}); run `python launch.py` once"})]
    from lantern_studio.engines import devices
    from lantern_studio.engines.music import musicgen_tiny as tiny
    from lantern_studio.engines.music.musicgen import MusicGenEngine

    cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    with tempfile.TemporaryDirectory(prefix="bench-musicgen-") as tmp:
        models_dir = Path(tmp)
        step(0.05, "building a tiny MusicGen")
        tiny.save_checkpoint(models_dir / "tiny", tiny.lm_config(dim=32, num_layers=2, card=64, n_q=4),
                             tiny.compression_config(n_q=4, bins=64))
        engine = MusicGenEngine(models_dir, device="cpu", default_model="tiny")
        step(0.2, "tiny model: engine vs raw audiocraft")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)   # a 32-wide model gains nothing from intra-op threads; they only add noise
        try:
            tiny_rows = _engine_vs_raw(engine, models_dir / "tiny", model_name="tiny",
                                       duration_s=5.0 if quick else 20.0, repeats=9 if quick else 15,
                                       device="cpu", label="tiny MusicGen (dim 32, 2 layers, 1 thread) on cpu")
        finally:
            torch.set_num_threads(threads)
        rows.extend(tiny_rows)
        engine.unload()

        gpu_skip = None
        if not torch.cuda.is_available():
            gpu_skip = "no CUDA GPU on this machine (torch.cuda.is_available() is False)"
        elif device == "cpu":
            gpu_skip = "--device cpu was asked for"
        if gpu_skip is not None:
            rows[0].setdefault("skipped", {})["musicgen-small shape on CUDA"] = gpu_skip
        elif cuda:
            step(0.5, "musicgen-small shape on the GPU")
            gpu = torch.cuda.get_device_name(0)
            try:
                lm_cfg, codec_cfg = tiny.musicgen_small_shape_config()
                tiny.save_checkpoint(models_dir / "small-shape", lm_cfg, codec_cfg)
                gpu_engine = MusicGenEngine(models_dir, device="cuda", default_model="small-shape")
                gpu_rows = _engine_vs_raw(gpu_engine, models_dir / "small-shape", model_name="small-shape",
                                             duration_s=10.0 if quick else 30.0, repeats=2 if quick else 3,
                                             device="cuda", label=f"musicgen-small shape fp16 on {gpu}")
                rows.extend(gpu_rows)
                gpu_engine.unload()
            except Exception as error:  # noqa: BLE001 - a GPU problem is reported, never fatal
                if devices.is_out_of_memory(error):
                    devices.release_memory("cuda")
                rows[0].setdefault("skipped", {})["musicgen-small shape on CUDA"] = \
                    f"failed on {gpu}: {type(error).__name__}: {error}"[:300]
    step(1.0, "done")
    return rows


def main(argv=None) -> int:
    from lantern_studio.benchmarks.runner import run_standalone

    rows = run_standalone(run, __doc__, quick_help="5 s takes (10 s on a GPU) instead of 20 s (30 s)", argv=argv)
    for row in rows:
        for name, reason in row.get("skipped", {}).items():
            print(f"skipped {name}: {reason}")
        peer = row["peers"].get("audiocraft (direct)")
        overhead = row["value"] / peer - 1 if row["metric"] == "seconds" else 1 - row["value"] / peer
        print(f"{row['scenario']}: {row['value']:.3f} {row['metric']} (min {row['spread'][0]:.3f}, max "
              f"{row['spread'][1]:.3f}); audiocraft direct {peer:.3f}; engine overhead {overhead:+.1%} "
              "(target <= 5%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
