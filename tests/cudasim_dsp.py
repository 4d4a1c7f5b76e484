"""Run as a script under NUMBA_ENABLE_CUDASIM=1: every kernels.dsp CUDA body against the reference.

Sizes are tiny (the simulator runs each thread in Python) and threads per block are few, so the
per-sample kernels span several blocks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import lantern_studio.kernels.backend as backend
    import lantern_studio.kernels.dsp as d

    if not backend.cuda_simulated():
        print("run with NUMBA_ENABLE_CUDASIM=1")
        return 2
    backend.THREADS_PER_BLOCK = 16
    rng = np.random.default_rng(7)
    sr = 8000
    failures = []

    def check(name, got, want, atol):
        got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
        if got.shape != want.shape or not np.allclose(got, want, rtol=0, atol=atol):
            failures.append(f"{name}: max difference {np.max(np.abs(got - want)) if got.shape == want.shape else got.shape}")

    x = (rng.standard_normal((3301, 2)) * 0.2).astype(np.float32)
    short = x[:301]
    sos = np.array([[0.3, 0.2, -0.1, 1.0, -0.6, 0.25], [1.0, -1.8, 0.9, 1.0, -1.7, 0.75]])
    out, state = d.biquad_cascade(short, sos, backend="cuda")
    ref, ref_state = d.biquad_cascade(short, sos, backend="reference")
    check("biquad", out, ref, 1e-6)
    check("biquad state", state, ref_state, 1e-12)
    a, sa = d.biquad_cascade(short[:100, 0], sos, backend="cuda")
    b, _ = d.biquad_cascade(short[100:, 0], sos, state=sa, backend="cuda")
    check("biquad streaming", np.concatenate([a, b]), ref[:, 0], 1e-6)

    check("integrated loudness", d.integrated_loudness(x, sr, backend="cuda"),
          d.integrated_loudness(x, sr, backend="reference"), 1e-9)
    check("true peak", d.true_peak_db(short, sr, backend="cuda"), d.true_peak_db(short, sr, backend="reference"), 1e-9)
    check("crossfeed", d.crossfeed(short, sr, backend="cuda"), d.crossfeed(short, sr, backend="reference"), 1e-6)
    loud = short * 6
    check("limit", d.limit(loud, sr, lookahead_ms=2.0, backend="cuda"),
          d.limit(loud, sr, lookahead_ms=2.0, backend="reference"), 1e-6)
    try:
        bad = short.copy()
        bad[3, 1] = np.nan
        d.true_peak_db(bad, sr, backend="cuda")
        failures.append("NaN was not reported")
    except ValueError as exc:
        if "NaN or inf at frame 3" not in str(exc):
            failures.append(f"unexpected message: {exc}")
    if failures:
        print("\n".join(failures))
        return 1
    print("cuda dsp ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
