"""Random mixing sessions, and (run as a script under NUMBA_ENABLE_CUDASIM=1) the CUDA body check.

``random_case`` and ``stems_of`` are imported by tests/test_kernels_mix.py; running this file compares the CUDA
body with the numpy reference on tiny sessions, with few threads per block so they span several blocks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def stems_of(arrays, **columns):
    """Stems from their arrays and per-stem lists of the other Stem fields (the columns of a random session)."""
    from lantern_studio.kernels.mix import Stem

    return [Stem(a, **{name: values[i] for name, values in columns.items()}) for i, a in enumerate(arrays)]


def random_case(rng: np.random.Generator, *, max_frames: int, ducking: bool | None = None, sample_rate: int = 1000):
    """A random session (1 kHz by default): odd-sized mono/stereo stems (some empty or one frame), every option.

    Returns ``(stems, kwargs)``: a list of ``kernels.mix.Stem`` and the rest of ``mix``'s arguments (the
    sample rate and the ducking). At 48 kHz with tens of thousands of frames the automation ramps are
    gentle, as in real sessions."""
    from lantern_studio.kernels.mix import Ducking

    sr = sample_rate
    count = int(rng.integers(2, 7))
    stems, gains, pans, offsets, gautos, pautos, fins, fouts, mutes, solos = ([] for _ in range(10))
    for i in range(count):
        kind = rng.random()
        frames = 0 if kind < 0.08 else 1 if kind < 0.16 else int(rng.integers(2, max_frames)) | 1
        shape = (frames,) if rng.random() < 0.4 else (frames, 2)
        stems.append(rng.uniform(-1, 1, shape).astype(np.float32))
        gains.append(float(rng.uniform(-12, 6)))
        offsets.append(float(rng.integers(0, max_frames // 2)) / sr + float(rng.choice([0.0, 0.0004])))
        if rng.random() < 0.6:
            k = int(rng.integers(1, 6))
            times = np.sort(rng.choice(np.arange(0, 2 * max_frames), size=k, replace=False)) / sr + 0.0003
            gautos.append(np.stack([times, rng.uniform(-30, 6, k)], axis=1))
        else:
            gautos.append(None)
        if rng.random() < 0.4:
            k = int(rng.integers(1, 5))
            times = np.sort(rng.choice(np.arange(0, 2 * max_frames), size=k, replace=False)) / sr
            pautos.append(np.stack([times, rng.uniform(-1, 1, k)], axis=1))
            pans.append(0.0)
        else:
            pautos.append(None)
            pans.append(float(rng.uniform(-1, 1)))
        fins.append(float(rng.choice([0.0, rng.uniform(0, 0.6)])))
        fouts.append(float(rng.choice([0.0, rng.uniform(0, 0.6)])))
        mutes.append(bool(rng.random() < 0.1))
        solos.append(False)
    if rng.random() < 0.15:
        solos[int(rng.integers(0, count))] = True
    duck = None
    if ducking or (ducking is None and rng.random() < 0.6):
        order = rng.permutation(count)
        duck = Ducking(key=int(order[0]), targets=tuple(int(t) for t in order[1:1 + int(rng.integers(1, count))]),
                       depth_db=float(rng.uniform(-30, -3)), threshold_db=float(rng.uniform(-20, -1)),
                       attack_s=float(rng.uniform(0, 0.05)), release_s=float(rng.uniform(0, 0.3)))
        mutes[duck.key] = False
        solos = [False] * count
    stems = stems_of(stems, gain_db=gains, pan=pans, offset_s=offsets, gain_automation=gautos, pan_automation=pautos,
                     fade_in_s=fins, fade_out_s=fouts, mute=mutes, solo=solos)
    return stems, dict(sample_rate=sr, ducking=duck)


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import lantern_studio.kernels.backend as backend
    import lantern_studio.kernels.mix as km

    if not backend.cuda_simulated():
        print("run with NUMBA_ENABLE_CUDASIM=1")
        return 2
    backend.THREADS_PER_BLOCK = 16
    for seed in range(3):
        stems, kwargs = random_case(np.random.default_rng(100 + seed), max_frames=120, ducking=seed < 2)
        ref = km.mix(stems, backend="reference", **kwargs)
        got = km.mix(stems, backend="cuda", **kwargs)
        if got.shape != ref.shape or not np.allclose(got, ref, rtol=0, atol=2e-6 * max(1.0, np.abs(ref).max())):
            print(f"seed {seed}: cuda differs from reference by {np.abs(got - ref).max()}")
            return 1
        sr = kwargs["sample_rate"]
        half = ref.shape[0] // 2
        window = km.mix(stems, backend="cuda", start_s=half / sr, **kwargs)
        if not np.allclose(window, got[half:], rtol=0, atol=1e-6):
            print(f"seed {seed}: a cuda window differs from the whole mix")
            return 1
    try:
        bad = [km.Stem(np.array([0.0, np.nan], np.float32))]
        km.mix(bad, sample_rate=100, backend="cuda")
        print("NaN stem was not reported")
        return 1
    except ValueError as exc:
        assert "stem 0 contains NaN" in str(exc), exc
    try:  # finite stems whose float32 bus overflows: the device-side flag must catch it
        km.mix([km.Stem(np.full(3, 3e38, np.float32), gain_db=60.0)], sample_rate=100, backend="cuda")
        print("an overflowing mix was not reported")
        return 1
    except ValueError as exc:
        assert "overflowed to inf" in str(exc), exc
    print("cuda mix ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
