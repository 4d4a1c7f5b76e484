"""Benchmark family "mix": the stem mixer against pydub, the numpy reference and a memory roofline.

Scenario: N stereo stems x D seconds at 48 kHz, each with gain automation (a ramp between every pair of
its 8 breakpoints), a static or automated pan, 2 s fades, a start offset, and sidechain ducking of half the
stems by a dialogue-like key stem. This project's mix renders into a reused bus (``out=``), as the mixer's
preview and a player do (a fresh bus would add the cost of first-touching its pages). Peers, measured in
the same run:

* **pydub**: the same stems as 16-bit AudioSegments, each ``apply_gain`` + ``pan`` + ``overlay`` onto the
  bus (pydub has no automation or ducking, so it does strictly less work; only pydub's own calls are timed).
* **numpy reference**: ``kernels.mix``'s float64 oracle on the same session.
* **roofline**: the bytes the kernel must move (every stem read once, the key stem once more, the bus
  written once) over the machine's copy bandwidth, measured with a parallel numba copy right before each
  timed mix. ``roofline_fraction`` is the median over the timed mixes of the roofline time over the mix's
  time. Each mix is compared with the bandwidth of its own moment because this VM's memory bandwidth
  switches between two states within seconds (RESULTS.md).

With ``--device cuda`` the row is end to end (numpy stems in, numpy bus out) and its roofline is the bus
between host and GPU: every stem copied over and the bus back, at the pageable copy rates measured here. A
second row times the CUDA kernels alone with the stems already on the GPU, against the GPU's measured
device-to-device copy bandwidth. This machine's CPU body is timed as one more peer, so the table shows
whether the GPU is worth using.

Run standalone: ``python -m benchmarks.bench_mix [--quick]``. ``OPENBLAS_CORETYPE`` is left as it is.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from numba import njit, prange

from lantern_studio.benchmarks.timing import Timing, cpu_body_peer, figure, make_row, measure
from lantern_studio.kernels.backend import resolve_backend
from lantern_studio.kernels.mix import Ducking, Stem, mix

SAMPLE_RATE = 48000


@njit(parallel=True, cache=True)
def _parallel_copy(src, dst):
    for i in prange(src.shape[0]):
        dst[i] = src[i]


def copy_bandwidth(nbytes: int = 1 << 29) -> float:
    """Measured read+write bandwidth in bytes/s of a parallel copy into an already-touched buffer."""
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.zeros_like(src)
    timing = measure(lambda: _parallel_copy(src, dst), repeats=5, warmup=2)
    return 2 * src.nbytes / min(timing.seconds)


def measure_against_copy(work, nbytes: int, *, copy_bytes: int, repeats: int) -> tuple[Timing, list[float]]:
    """Time ``work`` ``repeats`` times (after one untimed run), each right after measuring the copy
    bandwidth; returns the timing and each run's roofline fraction (``nbytes`` at that bandwidth over
    the run's time)."""
    work()
    seconds, fractions = [], []
    for _ in range(repeats):
        bandwidth = copy_bandwidth(copy_bytes)
        start = time.perf_counter()
        work()
        elapsed = time.perf_counter() - start
        seconds.append(elapsed)
        fractions.append(nbytes / bandwidth / elapsed)
    return Timing(tuple(seconds)), fractions


def gpu_bandwidths(nbytes: int = 1 << 29) -> dict[str, float]:
    """Measured GPU copy bandwidths in bytes/s: ``device`` (device-to-device, read+write), ``to_device`` and
    ``to_host`` (pageable host memory over the bus, as the mixer's own transfers are)."""
    from numba import cuda

    host = np.ones(nbytes // 4, dtype=np.float32)
    back = np.empty_like(host)
    d_a, d_b = cuda.to_device(host), cuda.device_array_like(host)

    def timed(work):
        def run():
            work()
            cuda.synchronize()
        return min(measure(run, repeats=5, warmup=2).seconds)

    return {"device": 2 * nbytes / timed(lambda: d_b.copy_to_device(d_a)),
            "to_device": nbytes / timed(lambda: d_a.copy_to_device(host)),
            "to_host": nbytes / timed(lambda: d_a.copy_to_host(back))}


def gpu_kernel_seconds(stems, options, *, repeats: int) -> Timing:
    """Wall time of the CUDA mix with the stems already on the GPU (uploaded once, as a session that keeps
    its stems resident would): the ducking envelope and the mix launches, the bus left on the GPU."""
    from numba import cuda

    from lantern_studio.kernels.mix import _cuda_mix_on_device, _cuda_upload, _plan

    plan = _plan(stems, start_s=0.0, **options)
    inputs = _cuda_upload(plan)

    def run():
        _cuda_mix_on_device(plan, inputs)
        cuda.synchronize()
    return measure(run, repeats=repeats, warmup=1)


def make_session(count: int, seconds: float, *, seed: int = 0):
    """The benchmark scenario's stems (``kernels.mix.Stem``, distinct memory each) and the rest of ``mix``'s
    arguments."""
    rng = np.random.default_rng(seed)
    frames = int(seconds * SAMPLE_RATE)
    base = (rng.standard_normal((1 << 16, 2)) * 0.1).astype(np.float32)
    arrays = []
    for i in range(count):
        stem = np.empty((frames - int(rng.integers(0, SAMPLE_RATE)), 2), dtype=np.float32)
        reps = -(-stem.shape[0] // base.shape[0])
        rolled = np.roll(base, int(rng.integers(0, base.shape[0])), axis=0)
        for r in range(reps):
            chunk = stem[r * base.shape[0]:(r + 1) * base.shape[0]]
            chunk[:] = rolled[:chunk.shape[0]]
        if i == 0:  # dialogue-like key: 2-4 s phrases with pauses
            t = 0
            while t < stem.shape[0]:
                pause = int(rng.uniform(1, 3) * SAMPLE_RATE)
                stem[t:t + pause] = 0.0
                t += pause + int(rng.uniform(2, 4) * SAMPLE_RATE)
        arrays.append(stem)
    gain_automation, pan_automation, pans = [], [], []
    for i in range(count):
        times = np.sort(rng.uniform(0, seconds, 8))
        gain_automation.append(np.stack([times, rng.uniform(-12, 0, 8)], axis=1))
        if i % 4 == 3:
            times = np.sort(rng.uniform(0, seconds, 6))
            pan_automation.append(np.stack([times, rng.uniform(-1, 1, 6)], axis=1))
            pans.append(0.0)
        else:
            pan_automation.append(None)
            pans.append(float(rng.uniform(-0.8, 0.8)))
    gains, offsets = rng.uniform(-9, 0, count), rng.uniform(0, 1, count)
    stems = [Stem(audio, gain_db=float(gain), pan=pan, offset_s=float(offset), gain_automation=gain_ramp,
                  pan_automation=pan_ramp, fade_in_s=2.0, fade_out_s=2.0)
             for audio, gain, pan, offset, gain_ramp, pan_ramp in zip(arrays, gains, pans, offsets, gain_automation,
                                                                      pan_automation)]
    options = dict(sample_rate=SAMPLE_RATE, ducking=Ducking(key=0, targets=tuple(range(1, count, 2)), depth_db=-10.0),
                   length_s=seconds)
    return stems, options


def bytes_moved(stems, seconds: float) -> int:
    """Every stem read once, the key stem once more for the ducking envelope, the bus written once."""
    frames = int(seconds * SAMPLE_RATE)
    return sum(s.audio.nbytes for s in stems) + stems[0].audio.nbytes + frames * 2 * 4


def pydub_seconds(stems, options, seconds: float) -> float:
    """Wall time of pydub's apply_gain + pan + overlay for every stem (16-bit; setup not timed)."""
    from pydub import AudioSegment

    bus = AudioSegment.silent(duration=int(seconds * 1000), frame_rate=SAMPLE_RATE).set_channels(2)
    total = 0.0
    for stem in stems:
        gain, pan, offset = stem.gain_db, stem.pan, stem.offset_s
        pcm = np.clip(stem.audio * 32768.0, -32768, 32767).astype("<i2").tobytes()
        segment = AudioSegment(pcm, frame_rate=SAMPLE_RATE, sample_width=2, channels=2)
        start = time.perf_counter()
        bus = bus.overlay(segment.apply_gain(float(gain)).pan(float(pan)), position=int(offset * 1000))
        total += time.perf_counter() - start
    return total


def _pydub_available() -> str | None:
    try:
        import pydub  # noqa: F401
    except ImportError:
        return "pydub is not installed (pip install pydub)"
    return None


def run(*, quick: bool, device: str = "auto", progress=None) -> list[dict]:
    """Benchmark rows (see benchmarks/timing.py) for the stem mixer."""
    backend = resolve_backend(device)
    scenarios = [(16, 20.0)] if quick else [(16, 180.0), (64, 180.0)]
    copy_bytes = 1 << 27 if quick else 1 << 29
    repeats = 3 if quick else 5
    gpu = gpu_bandwidths(copy_bytes) if backend == "cuda" else None
    rows = []
    for index, (count, seconds) in enumerate(scenarios):
        def step(fraction, message, _i=index):
            if progress is not None:
                progress((_i + fraction) / len(scenarios), message)

        step(0.0, f"building {count} stems x {seconds:.0f} s")
        stems, options = make_session(count, seconds)
        step(0.2, f"mixing {count} stems with {backend}")
        bus = np.empty((int(round(seconds * SAMPLE_RATE)), 2), np.float32)   # a player's reused bus

        def ours_once():
            mix(stems, backend=backend, out=bus, **options)

        if backend == "cuda":
            ours = measure(ours_once, repeats=repeats, warmup=1)
        else:
            ours, fractions = measure_against_copy(ours_once, bytes_moved(stems, seconds), copy_bytes=copy_bytes,
                                                   repeats=repeats)
        value, spread = figure(ours, "realtime_factor", amount=seconds)
        peers, skipped = {}, {}
        step(0.5, "numpy reference")
        ref = measure(lambda: mix(stems, backend="reference", **options), repeats=1, warmup=0)
        peers["numpy reference"] = seconds / ref.median
        if backend == "cuda":  # is the GPU worth it here? this machine's CPU body on the same session
            cpu = measure(lambda: mix(stems, backend="cpu", out=bus, **options), repeats=repeats, warmup=1)
            peers[cpu_body_peer()] = seconds / cpu.median
        reason = _pydub_available()
        if reason:
            skipped["pydub"] = reason
        else:
            step(0.7, "pydub overlay/apply_gain/pan")
            peers["pydub (overlay+gain+pan only)"] = seconds / pydub_seconds(stems, options, seconds)
        scenario = f"{count} stereo stems x {seconds:.0f} s @ 48 kHz, automation+pan+ducking"
        if backend == "cuda":
            # end to end, the ceiling is the bus between host and GPU: every stem over, the bus back
            fraction = (sum(s.audio.nbytes for s in stems) / gpu["to_device"] + bus.nbytes / gpu["to_host"]) / ours.median
        else:  # the roofline is a ceiling, not a peer: it is reported as roofline_fraction
            fraction = statistics.median(fractions)
        rows.append(make_row(family="mix", scenario=scenario, metric="realtime_factor", value=value, spread=spread,
                             peers=peers, device=backend, skipped=skipped, roofline_fraction=fraction,
                             realtime=value >= 1.0))
        if backend == "cuda":
            step(0.9, "GPU kernels with the stems resident on the GPU")
            resident = gpu_kernel_seconds(stems, options, repeats=repeats)
            value, spread = figure(resident, "realtime_factor", amount=seconds)
            rows.append(make_row(family="mix", scenario=scenario + ", stems resident on the GPU (kernels only)",
                                 metric="realtime_factor", value=value, spread=spread, peers=peers, device=backend,
                                 skipped=skipped, realtime=value >= 1.0,
                                 roofline_fraction=bytes_moved(stems, seconds) / gpu["device"] / resident.median))
        del stems
        step(1.0, "done")
    return rows


def main(argv=None) -> int:
    from lantern_studio.benchmarks.runner import run_standalone

    rows = run_standalone(run, __doc__, quick_help="16 stems x 20 s instead of 16 and 64 x 180 s", argv=argv)
    print("the copy bandwidth behind the roofline was measured right before each timed mix")
    for row in rows:
        ratios = ", ".join(f"{k}: {v:,.2f}x" for k, v in row["ratios"].items())
        print(f"{row['scenario']}: {row['value']:,.0f}x real time; ratios {ratios}; "
              f"roofline fraction {row['roofline_fraction']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
