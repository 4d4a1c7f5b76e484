"""Benchmark family "dsp": loudness, true peak, crossfeed + limiter over a stereo mix at 48 kHz.

Scenarios (180 s, or 20 s with ``--quick``), all on the same stereo pink-noise-like "mix":

* **integrated loudness** (BS.1770-4): ours against pyloudnorm's ``Meter.integrated_loudness`` and our numpy
  reference (scipy ``sosfilt`` + numpy gating).
* **true peak** (4x oversampled): ours against the numpy reference.
* **crossfeed + limiter** (headphone preview chain, -1 dBTP ceiling): ours against the numpy reference.

Run standalone: ``python -m benchmarks.bench_dsp [--quick]``. ``OPENBLAS_CORETYPE`` is left as it is.
"""

from __future__ import annotations

import numpy as np

from lantern_studio.benchmarks.timing import cpu_body_peer, figure, make_row, measure
from lantern_studio.kernels import dsp
from lantern_studio.kernels.backend import resolve_backend

SAMPLE_RATE = 48000


def make_mix(seconds: float, *, seed: int = 0) -> np.ndarray:
    """A loud stereo test mix: pink-ish noise with a slow level ride, peaks above 0 dBTP."""
    rng = np.random.default_rng(seed)
    frames = int(seconds * SAMPLE_RATE)
    block = 1 << 18
    spectrum = np.fft.rfft(rng.standard_normal((block, 2)), axis=0)
    f = np.fft.rfftfreq(block)
    f[0] = f[1]
    pink = np.fft.irfft(spectrum / np.sqrt(f)[:, None], n=block, axis=0)
    pink = (pink / pink.std() * 0.25).astype(np.float32)
    out = np.empty((frames, 2), np.float32)
    for start in range(0, frames, block):
        part = out[start:start + block]
        part[:] = np.roll(pink, int(rng.integers(0, block)), axis=0)[:part.shape[0]]
    ride = (1.0 + 0.5 * np.sin(np.arange(frames) / SAMPLE_RATE * 2 * np.pi / 7.0)).astype(np.float32)
    out *= ride[:, None]
    return out


def _pyloudnorm():
    try:
        import pyloudnorm
    except ImportError:
        return None
    return pyloudnorm


def run(*, quick: bool, device: str = "auto", progress=None) -> list[dict]:
    """Benchmark rows (see benchmarks/timing.py) for loudness, true peak and crossfeed + limiter."""
    backend = resolve_backend(device)
    seconds = 20.0 if quick else 180.0
    repeats = 3 if quick else 5

    def step(fraction, message):
        if progress is not None:
            progress(fraction, message)

    def cpu_peer(work) -> dict[str, float]:
        """On the GPU, this machine's CPU body of the same work, to show whether the GPU is worth it."""
        if backend != "cuda":
            return {}
        return {cpu_body_peer(): seconds / measure(work, repeats=repeats).median}

    step(0.0, f"building a {seconds:.0f} s stereo mix")
    audio = make_mix(seconds)
    rows = []
    scenario = f"{seconds:.0f} s stereo @ 48 kHz"

    step(0.1, "integrated loudness")
    ours = measure(lambda: dsp.integrated_loudness(audio, SAMPLE_RATE, backend=backend), repeats=repeats)
    value, spread = figure(ours, "realtime_factor", amount=seconds)
    peers, skipped = {}, {}
    ref = measure(lambda: dsp.integrated_loudness(audio, SAMPLE_RATE, backend="reference"), repeats=1, warmup=0)
    peers["numpy reference"] = seconds / ref.median
    peers.update(cpu_peer(lambda: dsp.integrated_loudness(audio, SAMPLE_RATE, backend="cpu")))
    pyln = _pyloudnorm()
    if pyln is None:
        skipped["pyloudnorm"] = "pyloudnorm is not installed (pip install pyloudnorm)"
    else:
        meter = pyln.Meter(SAMPLE_RATE)
        audio64 = audio.astype(np.float64)
        peer = measure(lambda: meter.integrated_loudness(audio64), repeats=1, warmup=0)
        peers["pyloudnorm"] = seconds / peer.median
    rows.append(make_row(family="dsp", scenario=f"integrated loudness (BS.1770-4), {scenario}",
                         metric="realtime_factor", value=value, spread=spread, peers=peers, device=backend,
                         skipped=skipped, realtime=value >= 1.0))

    step(0.4, "true peak")
    ours = measure(lambda: dsp.true_peak_db(audio, SAMPLE_RATE, backend=backend), repeats=repeats)
    value, spread = figure(ours, "realtime_factor", amount=seconds)
    ref = measure(lambda: dsp.true_peak_db(audio, SAMPLE_RATE, backend="reference"), repeats=1, warmup=0)
    peers = {"numpy reference": seconds / ref.median, **cpu_peer(lambda: dsp.true_peak_db(audio, SAMPLE_RATE, backend="cpu"))}
    rows.append(make_row(family="dsp", scenario=f"true peak (4x oversampled), {scenario}", metric="realtime_factor",
                         value=value, spread=spread, peers=peers, device=backend, realtime=value >= 1.0))

    step(0.6, "crossfeed + limiter")

    def chain(which):
        return dsp.limit(dsp.crossfeed(audio, SAMPLE_RATE, backend=which), SAMPLE_RATE, ceiling_dbtp=-1.0,
                         backend=which)

    ours = measure(lambda: chain(backend), repeats=repeats)
    value, spread = figure(ours, "realtime_factor", amount=seconds)
    step(0.7, "crossfeed + limiter, numpy reference (slow: its release recursion is a Python loop)")
    ref = measure(lambda: chain("reference"), repeats=1, warmup=0)
    rows.append(make_row(family="dsp", scenario=f"crossfeed + look-ahead limiter (-1 dBTP), {scenario}",
                         metric="realtime_factor", value=value, spread=spread,
                         peers={"numpy reference": seconds / ref.median, **cpu_peer(lambda: chain("cpu"))},
                         device=backend, realtime=value >= 1.0))
    step(1.0, "done")
    return rows


def main(argv=None) -> int:
    from lantern_studio.benchmarks.runner import run_standalone

    rows = run_standalone(run, __doc__, quick_help="20 s instead of 180 s", argv=argv)
    for row in rows:
        ratios = ", ".join(f"{k}: {v:,.1f}x" for k, v in row["ratios"].items())
        print(f"{row['scenario']}: {row['value']:,.0f}x real time; ratios {ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
