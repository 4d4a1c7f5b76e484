"""Stem mixer: N mono/stereo stems into one stereo float32 bus, in one pass over the output.

Every stem (a :class:`Stem`) has a start offset, a static gain and pan, optional gain and pan automation
(breakpoints interpolated per sample inside the kernel), mute/solo, linear fade-in/out, and may be ducked
by a key stem (sidechain). The public entry point is :func:`mix`; it validates, builds a compact plan of
flat arrays, and runs one of three bodies that compute the same thing:

``reference``
    numpy, float64, one stem at a time: the obviously-right oracle and **the specification**. The other
    two bodies are tested against it, and where they disagree it is they that are wrong.
``cpu``
    numba ``prange`` over timeline-aligned blocks of output frames; each block walks every stem once,
    splitting it into *pieces* where gain (dB), pan and fades are linear in time, and accumulates into
    one small block-local interleaved (left, right) buffer that is written to the bus once. No per-stem
    temporaries. Exact gain and pan are computed at each piece start with the shared scalars; inside a
    piece, gentle ramps (most automation) follow a quadratic polynomial per sub-cell, stepped exactly
    between sub-cells (error < 1e-7), and steep ones short per-sample Taylor series (argument <= 0.25,
    error < 2e-8), so no transcendental function runs per sample and the loops vectorise. The ducking
    envelope's hops are found in parallel and smoothed in one short sequential pass before the blocks.
    Stereo stems whose gains are one piece over a whole block are added two at a time.
``cuda``
    one thread per output frame, looping over the stems (segment lookup by binary search); one thread per
    ducking hop finds the key's activity, and the host smooths the hops (the same function as the CPU).

The per-sample arithmetic (dB to gain, constant-power pan, fades, the ducking hops and gain) is written
once as small ``@njit`` scalar functions called by the CPU loop and the CUDA kernel; both bodies smooth the
ducking hops with the same sequential function.

Conventions
-----------
* Time is the bus timeline: frame ``j`` is at ``j / sample_rate`` seconds. Automation breakpoint times
  are timeline seconds (not stem-relative), so moving a stem does not move its automation.
* Gain: ``stem.gain_db + gain_automation(t)`` dB; the automation is a trim added to the static gain.
* Pan: ``pan_automation(t)`` when given (then ``stem.pan`` must be 0), else ``stem.pan``; ``-1`` is hard
  left. Constant-power law with ``theta = (pan + 1) * pi / 4``: a mono stem goes to
  ``(cos theta, sin theta)`` (-3 dB per side at centre); a stereo stem's left and right channels are
  scaled by ``sqrt(2) * (cos theta, sin theta)``, so a centred stereo stem passes through at unity.
* Fades are linear in amplitude over the stem's own frames: ``min(1, k / n_in)`` and
  ``min(1, (n - 1 - k) / n_out)`` for stem frame ``k`` of ``n``.
* Mute wins over solo; when any audible stem is soloed only soloed stems are heard.
* Ducking runs at a control rate of one value per hop of ``DUCK_HOP`` timeline frames (32: 0.67 ms at
  48 kHz, far shorter than any attack). Hop ``h`` holds frames ``[h * DUCK_HOP, (h + 1) * DUCK_HOP)``; the
  key stem is *active* in it when the raw (pre-fader) peak ``max(|l|, |r|)`` of any of its frames there
  exceeds ``threshold_db``. The activity ``A`` follows with one-pole smoothing per hop,
  ``A[h] = A[h-1] + c * (active[h] - A[h-1])`` with ``c = 1 - exp(-DUCK_HOP / (time * sample_rate))``
  (``attack_s`` while active, ``release_s`` while not; ``A[-1] = 0``): at every hop's end it equals a
  per-sample smoother of the same time constants. Inside hop ``h`` the activity runs linearly from
  ``A[h-1]`` to ``A[h]``, reached on the hop's last frame, and the target stems are multiplied by
  ``1 + (10**(depth_db/20) - 1) * a``. Ducking only happens while the key stem is audible (not muted,
  not silenced by another stem's solo).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
from numba import njit, prange
from numba.typed import List as NumbaList

from lantern_studio.kernels.backend import (check_number, check_rate, cpu_tasks, device_function,
                                            first_nonfinite_row as _first_nonfinite_row, grid_1d, load_cuda,
                                            resolve_backend)

#: Timeline frames per CPU work item. Blocks are aligned to the timeline, not to the window, so any window
#: of the mix is bit-identical to the whole mix.
BLOCK_FRAMES = 32768
#: Timeline frames per ducking hop: the envelope's control rate (see the module notes).
DUCK_HOP = 32
_HOP_FRAME = ((np.arange(2 * DUCK_HOP) >> 1) + 1).astype(np.float32)  # k of each interleaved sample of a hop

_FASTMATH = {"contract", "arcp", "nsz", "afn"}  # no nnan/ninf: NaN must propagate so it can be reported
_FLT_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class Ducking:
    """Sidechain ducking: while the key stem is active, the target stems are lowered by ``depth_db``.

    Attributes
    ----------
    key : int
        Index of the key stem (e.g. dialogue).
    targets : tuple of int
        Indices of the stems to lower (e.g. music); must not contain ``key``.
    depth_db : float
        Gain applied to the targets when the key is fully active, in dB (<= 0).
    threshold_db : float
        Key peak level in dBFS above which the key counts as active.
    attack_s, release_s : float
        One-pole time constants (seconds) for ducking in and recovering. Shorter than one sample acts
        as one sample. The envelope is evaluated once per ``DUCK_HOP`` frames (see the module notes).
    """

    key: int
    targets: tuple[int, ...]
    depth_db: float = -12.0
    threshold_db: float = -40.0
    attack_s: float = 0.01
    release_s: float = 0.25


@dataclass(frozen=True, eq=False)  # stems compare by identity: their samples are arrays
class Stem:
    """One stem to mix: its samples and how it sits in the mix.

    Attributes
    ----------
    audio : ndarray
        ``(n,)`` mono or ``(n, 2)`` stereo float samples in [-1, 1] at the mix's sample rate. float32 is
        used as is (other float dtypes are converted); C-contiguous arrays are not copied.
    gain_db : float
        Static gain in dB.
    pan : float
        Constant-power pan in [-1, 1] (-1 hard left); must be 0 when ``pan_automation`` is given.
    offset_s : float
        Where the stem starts on the bus, seconds >= 0.
    mute, solo : bool
        Mute wins over solo; when any audible stem is soloed only soloed stems are heard.
    gain_automation, pan_automation : array (k, 2), optional
        Breakpoints ``(time_s, value)`` in timeline seconds, strictly increasing in time, linearly
        interpolated per sample and held flat outside their range. Gain values are dB added to
        ``gain_db``; pan values in [-1, 1] replace ``pan``.
    fade_in_s, fade_out_s : float
        Linear fades over the stem's own first and last seconds (>= 0).
    sample_rate : int, optional
        The rate the audio was recorded at, when known; one that differs from the mix's is an error.
    """

    audio: np.ndarray
    gain_db: float = 0.0
    pan: float = 0.0
    offset_s: float = 0.0
    mute: bool = False
    solo: bool = False
    gain_automation: np.ndarray | None = None
    pan_automation: np.ndarray | None = None
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0
    sample_rate: int | None = None


# --------------------------------------------------------------------------------------------------
# Scalar arithmetic shared by the CPU and CUDA bodies (no allocation, no exceptions)
# --------------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FASTMATH)
def _db_to_gain(gain_db):
    return math.exp(gain_db * 0.11512925464970229)  # ln(10) / 20


@njit(cache=True, fastmath=_FASTMATH)
def _pan_left(pan, scale):
    return scale * math.cos((pan + 1.0) * 0.7853981633974483)


@njit(cache=True, fastmath=_FASTMATH)
def _pan_right(pan, scale):
    return scale * math.sin((pan + 1.0) * 0.7853981633974483)


@njit(cache=True, fastmath=_FASTMATH)
def _fade(k, n, n_in, n_out):
    """Fade-in times fade-out factor at stem frame ``k`` of ``n`` (linear amplitude)."""
    f = 1.0
    if n_in > 0 and k < n_in:
        f = k / n_in
    if n_out > 0:
        r = (n - 1 - k) / n_out
        if r < 1.0:
            f *= r
    return f


@njit(cache=True, fastmath=_FASTMATH)
def _bracket(xs, lo, hi, t):
    """The index ``a`` in [lo, hi - 1) with ``xs[a] <= t < xs[a + 1]``, by binary search; ``xs[lo:hi]`` is
    strictly increasing and ``xs[lo] < t < xs[hi - 1]``."""
    a = lo
    b = hi - 1
    while b - a > 1:
        mid = (a + b) // 2
        if xs[mid] <= t:
            a = mid
        else:
            b = mid
    return a


@njit(cache=True, fastmath=_FASTMATH)
def _interp_at(xs, vs, lo, hi, t):
    """``np.interp(t, xs[lo:hi], vs[lo:hi])`` (breakpoints strictly increasing)."""
    if t <= xs[lo]:
        return vs[lo]
    if t >= xs[hi - 1]:
        return vs[hi - 1]
    a = _bracket(xs, lo, hi, t)
    return vs[a] + (t - xs[a]) * ((vs[a + 1] - vs[a]) / (xs[a + 1] - xs[a]))


@njit(cache=True, fastmath=_FASTMATH)
def _sample_flags(v, threshold):
    """(1 when ``|v|`` exceeds the threshold, 1 when ``v`` is NaN or inf) as int32, for vectorised counts."""
    a = abs(v)
    return np.int32(a > threshold), np.int32(not (a <= _FLT_MAX))


@njit(cache=True, fastmath=_FASTMATH)
def _hop_active(key, off, n, ch, threshold, h):
    """Whether the key (flat samples, ``ch`` channels, ``n`` frames from timeline frame ``off``) is active
    in ducking hop ``h``: 1 when a sample of one of its frames there exceeds the linear threshold (the
    frame's peak does), else 0. The second value is 1 when one of those samples is NaN or inf."""
    lo = h * DUCK_HOP - off
    hi = lo + DUCK_HOP
    over = 0
    bad = 0
    if lo >= 0 and hi <= n:  # the whole hop: loops of a fixed length, which vectorise
        first = lo * ch
        if ch == 2:
            for i in range(2 * DUCK_HOP):
                o, b = _sample_flags(key[first + i], threshold)
                over += o
                bad += b
        else:
            for i in range(DUCK_HOP):
                o, b = _sample_flags(key[first + i], threshold)
                over += o
                bad += b
    else:
        if lo < 0:  # (builtin min/max do not compile for the CUDA target in numba 0.68)
            lo = 0
        if hi > n:
            hi = n
        for i in range(lo * ch, hi * ch):
            o, b = _sample_flags(key[i], threshold)
            over += o
            bad += b
    return int(over > 0), int(bad > 0)


@njit(cache=True, fastmath=_FASTMATH)
def _duck_gain(activity, depth_gain):
    return 1.0 + (depth_gain - 1.0) * activity


@njit(cache=True, fastmath=_FASTMATH)
def _duck_activity_at(env, t):
    """The activity on timeline frame ``t``: linear inside its hop from ``env[h]`` (the smoothed activity
    at the end of the hop before) to ``env[h + 1]`` (its own, reached on its last frame)."""
    h = t // DUCK_HOP
    a0 = env[h]
    return a0 + (env[h + 1] - a0) * ((t - h * DUCK_HOP + 1) * (1.0 / DUCK_HOP))


@njit(cache=True, fastmath=_FASTMATH)
def _hop_map(active, d_attack, c_attack, d_release):
    """The smoother over one hop as an affine map ``a -> a * d + e``."""
    return (d_attack, c_attack) if active else (d_release, 0.0)


@njit(cache=True, fastmath=_FASTMATH)
def _duck_envelope(active, c_attack, c_release):
    """``env[h + 1]``: the smoothed activity at the end of hop ``h``; ``env[0] = 0`` (nothing before the
    timeline). One short sequential pass (270,000 hops for 3 minutes at 48 kHz), four hops per step: their
    maps compose off the dependency chain, which advances by one multiply-add per four hops. The steps
    start at hop 0 whatever the window, so a window's values are bit-identical to the whole mix's. Values
    below 1e-30 are flushed to 0 (a long release would otherwise reach denormals). ``env`` may run up to
    three hops past the last."""
    n = active.shape[0]
    groups = (n + 3) // 4
    env = np.empty(4 * groups + 1)
    env[0] = 0.0
    d_att = 1.0 - c_attack
    d_rel = 1.0 - c_release
    a = 0.0
    for g in range(groups):
        h = 4 * g
        d0, e0 = _hop_map(active[h], d_att, c_attack, d_rel)
        d1, e1 = _hop_map(active[h + 1] if h + 1 < n else 0, d_att, c_attack, d_rel)
        d2, e2 = _hop_map(active[h + 2] if h + 2 < n else 0, d_att, c_attack, d_rel)
        d3, e3 = _hop_map(active[h + 3] if h + 3 < n else 0, d_att, c_attack, d_rel)
        p1, q1 = d0 * d1, e0 * d1 + e1
        p2, q2 = p1 * d2, q1 * d2 + e2
        p3, q3 = p2 * d3, q2 * d3 + e3
        env[h + 1] = _flush(a * d0 + e0)
        env[h + 2] = _flush(a * p1 + q1)
        env[h + 3] = _flush(a * p2 + q2)
        a = _flush(a * p3 + q3)
        env[h + 4] = a
    return env


@njit(cache=True, fastmath=_FASTMATH)
def _flush(a):
    return a if a > 1e-30 else 0.0


# --------------------------------------------------------------------------------------------------
# Plan: validated inputs as flat arrays
# --------------------------------------------------------------------------------------------------

# Columns of the per-stem integer table: offset, length and channels (frames), audible, ducking target,
# fade-in and fade-out (frames), and the stem's [first, end) slice of the gain and pan breakpoint arrays.
_OFF, _LEN, _CH, _AUD, _TGT, _FIN, _FOUT, _G0, _G1, _P0, _P1 = range(11)
_COLUMNS = _P1 + 1


@dataclass
class _Plan:
    sample_rate: int
    start: int                    # first output frame on the timeline
    length: int                   # output frames
    stems: list                   # float32 C-contiguous (n, c) arrays, c in {1, 2}
    table: np.ndarray             # (S, _COLUMNS) int64, columns above
    gain_x: np.ndarray            # float64 breakpoint positions in frames (all stems, CSR by _G0/_G1)
    gain_v: np.ndarray            # float64 dB (static gain included)
    pan_x: np.ndarray
    pan_v: np.ndarray
    duck_key: int                 # -1 when there is no (audible) ducking
    duck_threshold: float         # linear
    duck_depth_gain: float        # linear
    duck_c_attack: float          # smoothing coefficients per ducking hop
    duck_c_release: float


def _as_audio(i, stem):
    if not isinstance(stem, np.ndarray):
        try:
            stem = np.asarray(stem)
        except Exception as exc:  # pragma: no cover - numpy raises many kinds
            raise ValueError(f"stem {i} is not array-like: {exc}") from exc
    if not np.issubdtype(stem.dtype, np.floating):
        raise ValueError(f"stem {i} has dtype {stem.dtype}; stems are float32 samples in [-1, 1] "
                         f"(for int16 PCM use x.astype(np.float32) / 32768)")
    if stem.ndim == 1:
        stem = stem.reshape(-1, 1)
    elif stem.ndim == 2 and stem.shape[1] in (1, 2):
        pass
    elif stem.ndim == 2 and stem.shape[0] in (1, 2) and stem.shape[1] > 2:
        raise ValueError(f"stem {i} has shape {stem.shape}, which looks channels-first; stems are "
                         f"(frames,) or (frames, 2): pass x.T")
    else:
        raise ValueError(f"stem {i} has shape {stem.shape}; stems are mono (frames,) or stereo (frames, 2) "
                         f"- downmix or split other channel layouts first")
    return np.ascontiguousarray(stem, dtype=np.float32)


def _automation(name, i, value, sample_rate, *, lo=None, hi=None):
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
        raise ValueError(f"{name} for stem {i} has shape {arr.shape}; give a (k, 2) array of "
                         f"(time_s, value) breakpoints with k >= 1")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} for stem {i} contains NaN or inf; breakpoints must be finite")
    times, values = arr[:, 0], arr[:, 1]
    if times[0] < 0:
        raise ValueError(f"{name} for stem {i} starts at {times[0]} s; breakpoint times are timeline "
                         f"seconds >= 0")
    bad = np.nonzero(np.diff(times) <= 0)[0]
    if bad.size:
        b = int(bad[0])
        raise ValueError(f"{name} for stem {i} is out of order: breakpoint {b + 1} at {times[b + 1]} s does "
                         f"not come after breakpoint {b} at {times[b]} s; sort the breakpoints by time "
                         f"and drop duplicates")
    if lo is not None and (values < lo).any() or hi is not None and (values > hi).any():
        raise ValueError(f"{name} for stem {i} has values outside [{lo}, {hi}]")
    return times * sample_rate, values


def _check_stem(i, stem, sample_rate):
    """A stem's validated settings: (audio, gain_db, pan, offset frames, fade-in frames, fade-out frames)."""
    if not isinstance(stem, Stem):
        hint = "; wrap the samples: Stem(audio)" if isinstance(stem, np.ndarray) else ""
        raise ValueError(f"stem {i} is a {type(stem).__name__}, not a kernels.mix.Stem{hint}")
    audio = _as_audio(i, stem.audio)
    if stem.sample_rate is not None and stem.sample_rate != sample_rate:
        raise ValueError(f"stem {i} is at {stem.sample_rate} Hz but the mix runs at {sample_rate} Hz; resample it "
                         f"first (engines.audio.io.resample)")
    gain = check_number(f"stem {i}'s gain_db", stem.gain_db)
    pan = check_number(f"stem {i}'s pan", stem.pan, lo=-1.0, hi=1.0)
    offset = check_number(f"stem {i}'s offset_s", stem.offset_s)
    if offset < 0:
        raise ValueError(f"stem {i} has offset {offset} s; offsets are seconds from the start of the bus and "
                         f"must be >= 0 (to start a stem early, trim it: x[int({-offset} * sample_rate):])")
    fade_in = check_number(f"stem {i}'s fade_in_s", stem.fade_in_s, lo=0.0)
    fade_out = check_number(f"stem {i}'s fade_out_s", stem.fade_out_s, lo=0.0)
    return (audio, gain, pan, int(round(offset * sample_rate)), int(round(fade_in * sample_rate)),
            int(round(fade_out * sample_rate)))


def _plan(stems, *, sample_rate, ducking, length_s, start_s) -> _Plan:
    sample_rate = check_rate(sample_rate)
    if isinstance(stems, (np.ndarray, Stem)) or not hasattr(stems, "__len__"):
        raise ValueError("stems must be a list or tuple of kernels.mix.Stem (one per stem)")
    count = len(stems)
    checked = [_check_stem(i, stem, sample_rate) for i, stem in enumerate(stems)]
    arrays = [c[0] for c in checked]
    any_solo = any(s.solo and not s.mute for s in stems)
    audible = [(not s.mute) and (s.solo or not any_solo) for s in stems]

    start = int(round(check_number("start_s", start_s, lo=0.0) * sample_rate))
    if length_s is None:
        end = max((c[3] + c[0].shape[0] for c in checked), default=0)
        length = max(0, end - start)
    else:
        length = int(round(check_number("length_s", length_s, lo=0.0) * sample_rate))

    table = np.zeros((count, _COLUMNS), dtype=np.int64)
    gx, gv, px, pv = [], [], [], []
    g_pos = p_pos = 0
    for i, (stem, (a, gain, pan, offset, fade_in, fade_out)) in enumerate(zip(stems, checked)):
        if stem.gain_automation is None:
            xs, vs = np.zeros(1), np.array([gain])
        else:
            xs, vs = _automation("gain_automation", i, stem.gain_automation, sample_rate)
            vs = vs + gain
        if stem.pan_automation is None:
            pxs, pvs = np.zeros(1), np.array([pan])
        else:
            if pan != 0.0:
                raise ValueError(f"stem {i} has both pan={pan} and pan_automation; the automation "
                                 f"replaces the static pan, so give only one")
            pxs, pvs = _automation("pan_automation", i, stem.pan_automation, sample_rate, lo=-1.0, hi=1.0)
        table[i, _OFF], table[i, _LEN], table[i, _CH] = offset, a.shape[0], a.shape[1]
        table[i, _AUD], table[i, _FIN], table[i, _FOUT] = audible[i], fade_in, fade_out
        table[i, _G0], table[i, _G1], table[i, _P0], table[i, _P1] = g_pos, g_pos + xs.size, p_pos, p_pos + pxs.size
        gx.append(xs)
        gv.append(vs)
        px.append(pxs)
        pv.append(pvs)
        g_pos += xs.size
        p_pos += pxs.size

    duck_key = -1
    threshold = depth_gain = c_attack = c_release = 0.0
    if ducking is not None:
        if not isinstance(ducking, Ducking):
            raise ValueError(f"ducking must be a kernels.mix.Ducking or None, got {type(ducking).__name__}")
        key = ducking.key
        if not isinstance(key, (int, np.integer)) or not 0 <= key < count:
            raise ValueError(f"ducking.key is {key!r} but there are {count} stems; give the index of the key stem")
        targets = tuple(ducking.targets)
        for t in targets:
            if not isinstance(t, (int, np.integer)) or not 0 <= t < count:
                raise ValueError(f"ducking.targets contains {t!r} but there are {count} stems")
            if t == key:
                raise ValueError(f"ducking.targets contains the key stem {key}; a stem cannot duck itself")
        depth = check_number("ducking.depth_db", ducking.depth_db, hi=0.0)
        thr = check_number("ducking.threshold_db", ducking.threshold_db)
        att = check_number("ducking.attack_s", ducking.attack_s, lo=0.0)
        rel = check_number("ducking.release_s", ducking.release_s, lo=0.0)
        if audible[key] and targets:
            duck_key = int(key)
            for t in targets:
                table[t, _TGT] = 1
            threshold = 10.0 ** (thr / 20.0)
            depth_gain = 10.0 ** (depth / 20.0)
            c_attack = -math.expm1(-DUCK_HOP / max(att * sample_rate, 1.0))   # per hop
            c_release = -math.expm1(-DUCK_HOP / max(rel * sample_rate, 1.0))

    def cat(parts):
        return np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(0), dtype=np.float64)

    return _Plan(sample_rate, start, length, arrays, table, cat(gx), cat(gv), cat(px), cat(pv),
                 duck_key, threshold, depth_gain, c_attack, c_release)


# --------------------------------------------------------------------------------------------------
# Reference body (numpy, float64, obviously right)
# --------------------------------------------------------------------------------------------------

def _duck_activity_reference(plan: _Plan, frames: np.ndarray) -> np.ndarray:
    """Ducking activity (module notes) on the given timeline frames, from hop 0 up to the last of them."""
    end = int(frames[-1]) + 1 if frames.size else 0
    hops = -(-end // DUCK_HOP)
    key = plan.stems[plan.duck_key].astype(np.float64)
    o = plan.table[plan.duck_key, _OFF]
    peak = np.zeros(hops * DUCK_HOP)
    lo, hi = min(o, peak.size), min(o + key.shape[0], peak.size)
    if hi > lo:
        peak[lo:hi] = np.abs(key[lo - o:hi - o]).max(axis=1)
    active = (peak.reshape(hops, DUCK_HOP) > plan.duck_threshold).any(axis=1).tolist()
    env = [0.0]
    for x in active:
        a = env[-1]
        env.append(a + (plan.duck_c_attack if x else plan.duck_c_release) * (float(x) - a))
    env = np.array(env)
    h = frames // DUCK_HOP
    return env[h] + (env[h + 1] - env[h]) * ((frames - h * DUCK_HOP + 1) / DUCK_HOP)


def _mix_reference(plan: _Plan) -> np.ndarray:
    sr = plan.sample_rate
    out = np.zeros((plan.length, 2))
    frames = np.arange(plan.start, plan.start + plan.length)
    duck = None
    if plan.duck_key >= 0 and frames.size:
        duck = 1.0 + (plan.duck_depth_gain - 1.0) * _duck_activity_reference(plan, frames)
    for s, x in enumerate(plan.stems):
        off, n, ch, aud, tgt, n_in, n_out, g0, g1, p0, p1 = (plan.table[s, c] for c in (
            _OFF, _LEN, _CH, _AUD, _TGT, _FIN, _FOUT, _G0, _G1, _P0, _P1))
        if not aud:
            continue
        k = frames - off
        inside = (k >= 0) & (k < n)
        if not inside.any():
            continue
        k = k[inside]
        t_s = frames[inside] / sr
        gain_db = np.interp(t_s, plan.gain_x[g0:g1] / sr, plan.gain_v[g0:g1])
        pan = np.interp(t_s, plan.pan_x[p0:p1] / sr, plan.pan_v[p0:p1])
        gain = 10.0 ** (gain_db / 20.0)
        fade = np.ones(k.size)
        if n_in > 0:
            fade *= np.minimum(1.0, k / n_in)
        if n_out > 0:
            fade *= np.minimum(1.0, (n - 1 - k) / n_out)
        gain = gain * fade
        if tgt and duck is not None:
            gain = gain * duck[inside]
        theta = (pan + 1.0) * np.pi / 4.0
        samples = x[k].astype(np.float64)
        if ch == 1:
            left = right = samples[:, 0]
            scale = 1.0
        else:
            left, right = samples[:, 0], samples[:, 1]
            scale = np.sqrt(2.0)
        out[inside, 0] += left * gain * scale * np.cos(theta)
        out[inside, 1] += right * gain * scale * np.sin(theta)
    return out.astype(np.float32)


# --------------------------------------------------------------------------------------------------
# CPU body (numba)
# --------------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FASTMATH)
def _segment(xs, vs, lo, hi, t):
    """Linear piece of an automation curve at integer frame ``t``.

    Returns ``(base, x0, slope, first_t, next_t)``: the value at ``u`` is ``base + (u - x0) * slope`` (the
    formula of ``np.interp``) for integer ``first_t <= u < next_t``, with ``t`` in that range.
    """
    big = 1 << 62
    if t <= xs[lo]:
        return vs[lo], 0.0, 0.0, -big, int(math.floor(xs[lo])) + 1
    if t >= xs[hi - 1]:
        return vs[hi - 1], 0.0, 0.0, int(math.ceil(xs[hi - 1])), big
    a = _bracket(xs, lo, hi, t)
    b = a + 1
    return vs[a], xs[a], (vs[b] - vs[a]) / (xs[b] - xs[a]), int(math.ceil(xs[a])), int(math.ceil(xs[b]))


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _duck_hops_cpu(key, off, n, ch, threshold, hops, tasks):
    """Each ducking hop's key activity (uint8) for hops ``0 .. hops - 1`` in parallel, and whether a key
    sample they read is NaN or inf."""
    active = np.empty(hops, dtype=np.uint8)
    ntasks = max(1, min(hops, tasks))
    bad = np.zeros(ntasks, dtype=np.int64)
    for task in prange(ntasks):
        for h in range(task * hops // ntasks, (task + 1) * hops // ntasks):
            a, b = _hop_active(key, off, n, ch, threshold, h)
            active[h] = a
            bad[task] |= b
    return active, bad.any()


# Within a piece the CPU body anchors exact values at the piece start (the shared scalars above) and
# follows the ramps with short Taylor series in the offset from the anchor; pieces are split so that the
# series argument stays within +-_TAYLOR_MAX, where the truncation error is below 2e-8 (relative).
_TAYLOR_MAX = 0.25


_F1 = np.float32(1.0)
_F2 = np.float32(1.0 / 2.0)
_F6 = np.float32(1.0 / 6.0)
_F24 = np.float32(1.0 / 24.0)
_F120 = np.float32(1.0 / 120.0)
_F720 = np.float32(1.0 / 720.0)
_F5040 = np.float32(1.0 / 5040.0)


@njit(cache=True, fastmath=_FASTMATH)
def _exp_near0(a):
    return _F1 + a * (_F1 + a * (_F2 + a * (_F6 + a * (_F24 + a * (_F120 + a * _F720)))))


@njit(cache=True, fastmath=_FASTMATH)
def _cos_near0(a):
    a2 = a * a
    return _F1 - a2 * (_F2 - a2 * (_F24 - a2 * _F720))


@njit(cache=True, fastmath=_FASTMATH)
def _sin_near0(a):
    a2 = a * a
    return a * (_F1 - a2 * (_F6 - a2 * (_F120 - a2 * _F5040)))


# The accumulate loops add one stem's piece into the block's interleaved (left, right) accumulator. They
# index from 0 over slices (no wraparound checks) and use float32 throughout, so LLVM vectorises them;
# gains and ramp coefficients arrive as float32. One loop per case keeps the common ones lean: constant
# gains, fades (static gains), and gain/pan ramps. Ducking is not applied here: ducked stems go into their
# own accumulator, lowered once per frame (see _mix_cpu).

@njit(cache=True, fastmath=_FASTMATH)
def _acc_const_stereo(acc, xs, gl, gr):
    for r in range(acc.shape[0] // 2):
        acc[2 * r] += xs[2 * r] * gl
        acc[2 * r + 1] += xs[2 * r + 1] * gr


@njit(cache=True, fastmath=_FASTMATH)
def _acc_const_mono(acc, xs, gl, gr):
    for r in range(acc.shape[0] // 2):
        v = xs[r]
        acc[2 * r] += v * gl
        acc[2 * r + 1] += v * gr


@njit(cache=True, fastmath=_FASTMATH)
def _acc_faded_stereo(acc, xs, r0, gl, gr, fa, fb, ga, gb):
    for r in range(acc.shape[0] // 2):
        fr = np.float32(r0 + r)
        f = (fa + fb * fr) * (ga + gb * fr)
        acc[2 * r] += xs[2 * r] * (gl * f)
        acc[2 * r + 1] += xs[2 * r + 1] * (gr * f)


@njit(cache=True, fastmath=_FASTMATH)
def _acc_faded_mono(acc, xs, r0, gl, gr, fa, fb, ga, gb):
    for r in range(acc.shape[0] // 2):
        fr = np.float32(r0 + r)
        v = xs[r] * ((fa + fb * fr) * (ga + gb * fr))
        acc[2 * r] += v * gl
        acc[2 * r + 1] += v * gr


@njit(cache=True, fastmath=_FASTMATH)
def _ramp_gains(fr, g0, beta, c0, s0, delta, fa, fb, ga, gb):
    a = delta * fr
    c = _cos_near0(a)
    sn = _sin_near0(a)
    g = g0 * _exp_near0(beta * fr) * ((fa + fb * fr) * (ga + gb * fr))
    return g * (c0 * c - s0 * sn), g * (s0 * c + c0 * sn)


@njit(cache=True, fastmath=_FASTMATH)
def _acc_ramp_stereo(acc, xs, r0, g0, beta, c0, s0, delta, fa, fb, ga, gb):
    for r in range(acc.shape[0] // 2):
        gl, gr = _ramp_gains(np.float32(r0 + r), g0, beta, c0, s0, delta, fa, fb, ga, gb)
        acc[2 * r] += xs[2 * r] * gl
        acc[2 * r + 1] += xs[2 * r + 1] * gr


@njit(cache=True, fastmath=_FASTMATH)
def _acc_ramp_mono(acc, xs, r0, g0, beta, c0, s0, delta, fa, fb, ga, gb):
    for r in range(acc.shape[0] // 2):
        gl, gr = _ramp_gains(np.float32(r0 + r), g0, beta, c0, s0, delta, fa, fb, ga, gb)
        v = xs[r]
        acc[2 * r] += v * gl
        acc[2 * r + 1] += v * gr


# Gentle ramps (most automation) take a cheaper route. The gain pair is one complex number,
# ``left + i right = g * e^(i theta)``, which follows ``e^(z u)`` with ``z = beta + i delta`` per frame.
# From the exact anchor it is stepped across sub-cells of ``C`` frames by complex multiplication in float64
# (a few steps per block: no drift), and inside a sub-cell it is the quadratic Taylor polynomial in the
# offset, with ``|z| C <= _QUAD_MAX`` so the truncation error is below 1e-7 (relative). Ramps too steep
# for sub-cells of _QUAD_MIN_CELL frames use the per-sample series above on a finer anchor grid.
_QUAD_MAX = 1.0 / 128.0
_QUAD_MIN_CELL = 32


@njit(cache=True, fastmath=_FASTMATH)
def _acc_quad_plain_stereo(acc, xs, w0, l0, l1, l2, q0, q1, q2):
    for r in range(acc.shape[0] // 2):
        w = np.float32(w0 + r)
        acc[2 * r] += xs[2 * r] * (l0 + w * (l1 + w * l2))
        acc[2 * r + 1] += xs[2 * r + 1] * (q0 + w * (q1 + w * q2))


@njit(cache=True, fastmath=_FASTMATH)
def _acc_quad_plain_mono(acc, xs, w0, l0, l1, l2, q0, q1, q2):
    for r in range(acc.shape[0] // 2):
        w = np.float32(w0 + r)
        v = xs[r]
        acc[2 * r] += v * (l0 + w * (l1 + w * l2))
        acc[2 * r + 1] += v * (q0 + w * (q1 + w * q2))


@njit(cache=True, fastmath=_FASTMATH)
def _acc_quad_stereo(acc, xs, w0, l0, l1, l2, q0, q1, q2, fa, fb, ga, gb):
    for r in range(acc.shape[0] // 2):
        w = np.float32(w0 + r)
        f = (fa + fb * w) * (ga + gb * w)
        acc[2 * r] += xs[2 * r] * ((l0 + w * (l1 + w * l2)) * f)
        acc[2 * r + 1] += xs[2 * r + 1] * ((q0 + w * (q1 + w * q2)) * f)


@njit(cache=True, fastmath=_FASTMATH)
def _acc_quad_mono(acc, xs, w0, l0, l1, l2, q0, q1, q2, fa, fb, ga, gb):
    for r in range(acc.shape[0] // 2):
        w = np.float32(w0 + r)
        v = xs[r] * ((fa + fb * w) * (ga + gb * w))
        acc[2 * r] += v * (l0 + w * (l1 + w * l2))
        acc[2 * r + 1] += v * (q0 + w * (q1 + w * q2))


@njit(cache=True, fastmath=_FASTMATH)
def _cell_step(beta, delta, cell):
    """``e^(z C)`` as (real, imaginary): the factor from one sub-cell's anchor gains to the next."""
    growth = math.exp(beta * cell)
    return growth * math.cos(delta * cell), growth * math.sin(delta * cell)


@njit(cache=True, fastmath=_FASTMATH)
def _cell_coeffs(ar, ai, beta, delta):
    """float32 ``(l0, l1, l2, r0, r1, r2)`` of a sub-cell whose anchor gains are ``A = ar + i ai``:
    ``A``, ``A z`` and ``A z^2 / 2``."""
    br, bi = ar * beta - ai * delta, ar * delta + ai * beta
    cr, ci = 0.5 * (br * beta - bi * delta), 0.5 * (br * delta + bi * beta)
    return np.float32(ar), np.float32(br), np.float32(cr), np.float32(ai), np.float32(bi), np.float32(ci)


@njit(cache=True, fastmath=_FASTMATH)
def _acc_ramp_cells(acc, xs, stereo, anchor, t, cell, gl, gr, beta, delta, off, n, n_in, n_out):
    """Add a gentle ramp over timeline frames [t, t + len(acc) // 2) whose exact gains at ``anchor`` are
    ``gl``, ``gr`` (see above); ``acc`` and ``xs`` start at frame ``t``."""
    er, ei = _cell_step(beta, delta, cell)
    ar, ai = gl, gr
    u = anchor
    while u + cell <= t:                   # step to the sub-cell holding t (the same steps any window takes)
        ar, ai = ar * er - ai * ei, ar * ei + ai * er
        u += cell
    first = t
    end = t + acc.shape[0] // 2
    while t < end:
        stop = min(end, u + cell)
        fa, fb, ga, gb = _fade_line(u - off, n, n_in, n_out)
        m0 = t - first
        m1 = stop - first
        coeffs = _cell_coeffs(ar, ai, beta, delta)
        if fb == 0.0 and gb == 0.0:  # no fade: the polynomial alone
            if stereo:
                _acc_quad_plain_stereo(acc[2 * m0:2 * m1], xs[2 * m0:2 * m1], t - u, *coeffs)
            else:
                _acc_quad_plain_mono(acc[2 * m0:2 * m1], xs[m0:m1], t - u, *coeffs)
        elif stereo:
            _acc_quad_stereo(acc[2 * m0:2 * m1], xs[2 * m0:2 * m1], t - u, *coeffs, fa, fb, ga, gb)
        else:
            _acc_quad_mono(acc[2 * m0:2 * m1], xs[m0:m1], t - u, *coeffs, fa, fb, ga, gb)
        ar, ai = ar * er - ai * ei, ar * ei + ai * er
        u += cell
        t = stop


# Stereo stems whose gains over a whole timeline block are one piece (no fade edge or automation
# breakpoint in it), constant or a gentle ramp, are added two at a time: the common case in a stem mix.
# Reading two streams per pass keeps more memory requests in flight and loads and stores the accumulator
# half as often. Constant pairs use the constant gains _acc_stem would use. Ramps use the quadratic
# sub-cells of _acc_ramp_cells, on a fixed grid of _PAIR_CELL frames from the block start. The pair loops
# run over the flat interleaved samples, picking the left or right coefficients by the sample's parity.
# Written per frame, as the one-stem loops are, LLVM de- and re-interleaves the channels with shuffles, and
# two quadratics per pass make the loop compute-bound; the flat loops avoid both.
# Only the order of the sums and the sub-cell grid differ from _acc_stem, and both depend on the timeline
# block alone, so windows of the mix stay bit-identical.
_PAIR_CELL = 4096
_WHOLE_NONE = 0   # not one piece over the block: _acc_stem adds it
_WHOLE_CONST = 1  # constant gains
_WHOLE_RAMP = 2   # a gentle ramp along quadratic sub-cells


@njit(cache=True, fastmath=_FASTMATH)
def _acc_const_pair(acc, xs, ys, gl, gr, hl, hr):
    for i in range(acc.shape[0]):
        odd = (i & 1) == 1
        acc[i] += xs[i] * (gr if odd else gl) + ys[i] * (hr if odd else hl)


@njit(cache=True, fastmath=_FASTMATH)
def _acc_quad_pair(acc, xs, ys, w0, c, d):
    """``c``, ``d``: each stem's (l0, l1, l2, r0, r1, r2) in ``w = w0 + frame``."""
    a0, a1, a2, b0, b1, b2 = c[0], c[1], c[2], c[3], c[4], c[5]
    e0, e1, e2, f0, f1, f2 = d[0], d[1], d[2], d[3], d[4], d[5]
    for i in range(acc.shape[0]):
        odd = (i & 1) == 1
        w = np.float32(w0 + (i >> 1))
        gx = (b0 if odd else a0) + w * ((b1 if odd else a1) + w * (b2 if odd else a2))
        gy = (f0 if odd else e0) + w * ((f1 if odd else e1) + w * (f2 if odd else e2))
        acc[i] += xs[i] * gx + ys[i] * gy


@njit(cache=True, fastmath=_FASTMATH)
def _whole_block_gains(off, n, ch, n_in, n_out, gx, gv, g_lo, g_hi, px, pv, p_lo, p_hi, block_start, block,
                       coefs):
    """Whether a stem's gains over the whole timeline block are one piece the pair loops can add
    (_WHOLE_NONE, _WHOLE_CONST or _WHOLE_RAMP). ``coefs[k]`` gets sub-cell k's float32
    ``(l0, l1, l2, r0, r1, r2)`` (constant gains: ``coefs[0]`` only, with zero slopes).

    The test looks at the timeline block, never at the window being rendered, so every window of the mix
    takes the same path for a given block."""
    block_end = block_start + block
    if ch != 2 or off > block_start or off + n < block_end:
        return _WHOLE_NONE
    if (n_in > 0 and block_start - off < n_in) or (n_out > 0 and block_end - off > n - n_out):
        return _WHOLE_NONE  # a fade reaches into the block
    g_base, g_x0, g_slope, g_first, g_next = _segment(gx, gv, g_lo, g_hi, block_start)
    p_base, p_x0, p_slope, p_first, p_next = _segment(px, pv, p_lo, p_hi, block_start)
    if max(g_first, p_first) > block_start or min(g_next, p_next) < block_end:
        return _WHOLE_NONE  # a breakpoint inside the block
    g0 = _db_to_gain(g_base + (block_start - g_x0) * g_slope)
    pan = p_base + (block_start - p_x0) * p_slope
    ar = g0 * _pan_left(pan, 1.4142135623730951)
    ai = g0 * _pan_right(pan, 1.4142135623730951)
    beta = g_slope * 0.11512925464970229      # z = beta + i delta per frame, as in _acc_stem
    delta = p_slope * 0.7853981633974483
    if beta == 0.0 and delta == 0.0:
        coefs[0, 0], coefs[0, 1], coefs[0, 2] = np.float32(ar), np.float32(0.0), np.float32(0.0)
        coefs[0, 3], coefs[0, 4], coefs[0, 5] = np.float32(ai), np.float32(0.0), np.float32(0.0)
        return _WHOLE_CONST
    cell = min(_PAIR_CELL, block)
    if block % cell or math.sqrt(beta * beta + delta * delta) * cell > _QUAD_MAX:
        return _WHOLE_NONE
    er, ei = _cell_step(beta, delta, cell)
    for k in range(block // cell):
        coefs[k, 0], coefs[k, 1], coefs[k, 2], coefs[k, 3], coefs[k, 4], coefs[k, 5] = _cell_coeffs(ar, ai, beta,
                                                                                                    delta)
        ar, ai = ar * er - ai * ei, ar * ei + ai * er
    return _WHOLE_RAMP


@njit(cache=True, fastmath=_FASTMATH)
def _stem_frames(stems, table, s, t, stop):
    """Stem ``s``'s interleaved stereo samples for timeline frames [t, stop)."""
    return stems[s][2 * (t - table[s, _OFF]):2 * (stop - table[s, _OFF])]


@njit(cache=True, fastmath=_FASTMATH)
def _acc_whole_block_stems(acc, stems, table, members, count, kinds, coefs, silent, t0, block_start, block):
    """Add the listed whole-block stems (``members[:count]``, in order) two at a time over timeline frames
    [t0, t0 + len(acc) // 2) of the block starting at ``block_start``; an odd one out is paired with
    itself at the gains ``silent`` (zeros)."""
    t1 = t0 + acc.shape[0] // 2
    cell = min(_PAIR_CELL, block)
    for i in range(0, count, 2):
        s = members[i]
        u = members[i + 1] if i + 1 < count else s
        if kinds[s] == _WHOLE_CONST and kinds[u] == _WHOLE_CONST:  # the whole window in one pass
            c = coefs[s, 0]
            d = coefs[u, 0] if u != s else silent
            _acc_const_pair(acc, _stem_frames(stems, table, s, t0, t1), _stem_frames(stems, table, u, t0, t1),
                            c[0], c[3], d[0], d[3])
            continue
        t = t0
        while t < t1:  # sub-cell by sub-cell
            k = (t - block_start) // cell
            stop = min(t1, block_start + (k + 1) * cell)
            c = coefs[s, k if kinds[s] == _WHOLE_RAMP else 0]
            d = coefs[u, k if kinds[u] == _WHOLE_RAMP else 0] if u != s else silent
            _acc_quad_pair(acc[2 * (t - t0):2 * (stop - t0)], _stem_frames(stems, table, s, t, stop),
                           _stem_frames(stems, table, u, t, stop), t - block_start - k * cell, c, d)
            t = stop


@njit(cache=True, fastmath=_FASTMATH)
def _fade_line(k, n, n_in, n_out):
    """Fade-in and fade-out factors at stem frame k as lines in the frame offset: (fa, fb, ga, gb)."""
    fa, fb, ga, gb = 1.0, 0.0, 1.0, 0.0
    if n_in > 0 and k < n_in:
        fa, fb = k / n_in, 1.0 / n_in
    if n_out > 0 and k >= n - n_out:
        ga, gb = (n - 1 - k) / n_out, -1.0 / n_out
    return np.float32(fa), np.float32(fb), np.float32(ga), np.float32(gb)


@njit(cache=True, fastmath=_FASTMATH)
def _store_block(acc, out):
    """Copy the block's accumulator to the bus; False when it holds NaN or inf."""
    bad = 0
    for i in range(acc.shape[0]):
        v = acc[i]
        bad |= not (abs(v) <= _FLT_MAX)
        out[i] = v
    return bad == 0


@njit(cache=True, fastmath=_FASTMATH)
def _duck_sample_gains(env, t0, t1, depth_gain, gains):
    """The ducking gain of each flat (left, right) sample of timeline frames [t0, t1) into
    ``gains[:2 * (t1 - t0)]``, as in _duck_activity_at: hop by hop, ``c0 + c1 * k`` on the hop's k-th frame."""
    depth = depth_gain - 1.0
    for h in range(t0 // DUCK_HOP, (t1 - 1) // DUCK_HOP + 1):
        first = h * DUCK_HOP
        c0 = np.float32(1.0 + depth * env[h])
        c1 = np.float32(depth * (env[h + 1] - env[h]) * (1.0 / DUCK_HOP))
        j0 = 2 * max(t0 - first, 0)  # the hop's samples inside [t0, t1)
        j1 = 2 * (min(t1, first + DUCK_HOP) - first)
        # loops from 0 over slices: numba's index checks would otherwise keep them from vectorising
        hop = gains[2 * (first - t0) + j0:2 * (first - t0) + j1]
        k = _HOP_FRAME[j0:j1]
        for j in range(hop.shape[0]):
            hop[j] = c0 + c1 * k[j]


@njit(cache=True, fastmath=_FASTMATH)
def _store_ducked_block(acc, ducked, gains, out):
    """``out = acc + ducked * gains`` (the block's flat samples); False when ``out`` holds NaN or inf."""
    bad = 0
    for i in range(acc.shape[0]):
        v = acc[i] + ducked[i] * gains[i]
        bad |= not (abs(v) <= _FLT_MAX)
        out[i] = v
    return bad == 0


@njit(cache=True, fastmath=_FASTMATH)
def _acc_stem(acc, x, off, n, ch, t0, t1, n_in, n_out, gx, gv, g_lo, g_hi, px, pv, p_lo, p_hi, block_grid):
    """Add stem ``x`` (flat, ``ch`` channels, starting at timeline frame ``off``) to the block's
    accumulator over timeline frames [t0, t1), piece by piece."""
    a_t = max(t0, off)
    b_t = min(t1, off + n)
    stereo = ch == 2
    scale = 1.0 if ch == 1 else 1.4142135623730951
    t = a_t
    while t < b_t:
        g_base, g_x0, g_slope, g_first, g_next = _segment(gx, gv, g_lo, g_hi, t)
        p_base, p_x0, p_slope, p_first, p_next = _segment(px, pv, p_lo, p_hi, t)
        piece_end = min(b_t, g_next, p_next)
        piece_start = max(off, g_first, p_first)
        k_now = t - off
        if n_in > 0:
            if k_now < n_in:
                piece_end = min(piece_end, off + n_in)
            else:
                piece_start = max(piece_start, off + n_in)
        if n_out > 0:
            if k_now < n - n_out:
                piece_end = min(piece_end, off + n - n_out)
            else:
                piece_start = max(piece_start, off + n - n_out)
        beta = g_slope * 0.11512925464970229      # d ln(gain) / d frame
        delta = p_slope * 0.7853981633974483      # d theta / d frame
        steep = max(abs(beta), abs(delta))
        # Anchors sit on a fixed timeline grid (the block grid, or for steep ramps a power of two no
        # longer than the Taylor range allows) or at the piece start, never at a window edge: any window
        # of the mix computes bit-identical samples.
        grid = block_grid
        quad_cell = block_grid
        if steep > 0.0:
            zabs = math.sqrt(beta * beta + delta * delta)
            while quad_cell > 1 and zabs * quad_cell > _QUAD_MAX:
                quad_cell //= 2
            if quad_cell < _QUAD_MIN_CELL:
                limit = _TAYLOR_MAX / steep
                while grid > 1 and grid > limit:
                    grid //= 2
        cell = t // grid
        anchor = max(piece_start, cell * grid)
        sub_end = min(piece_end, (cell + 1) * grid)
        g_db = g_base + (anchor - g_x0) * g_slope
        pan = p_base + (anchor - p_x0) * p_slope
        g0 = _db_to_gain(g_db)
        fa, fb, ga, gb = _fade_line(anchor - off, n, n_in, n_out)
        r0 = t - anchor
        m0 = t - t0
        m1 = sub_end - t0
        k0 = t - off
        ac = acc[2 * m0:2 * m1]
        xs = x[ch * k0:ch * (k0 + m1 - m0)]
        if steep == 0.0:
            gl = np.float32(g0 * _pan_left(pan, scale))
            gr = np.float32(g0 * _pan_right(pan, scale))
            if fb == 0.0 and gb == 0.0:  # no fade: constant gains (fa = ga = 1)
                if stereo:
                    _acc_const_stereo(ac, xs, gl, gr)
                else:
                    _acc_const_mono(ac, xs, gl, gr)
            elif stereo:
                _acc_faded_stereo(ac, xs, r0, gl, gr, fa, fb, ga, gb)
            else:
                _acc_faded_mono(ac, xs, r0, gl, gr, fa, fb, ga, gb)
        elif quad_cell >= _QUAD_MIN_CELL:
            _acc_ramp_cells(ac, xs, stereo, anchor, t, quad_cell, g0 * _pan_left(pan, scale),
                            g0 * _pan_right(pan, scale), beta, delta, off, n, n_in, n_out)
        else:
            g0f = np.float32(g0 * scale)
            c0 = np.float32(_pan_left(pan, 1.0))
            s0 = np.float32(_pan_right(pan, 1.0))
            if stereo:
                _acc_ramp_stereo(ac, xs, r0, g0f, np.float32(beta), c0, s0, np.float32(delta), fa, fb, ga, gb)
            else:
                _acc_ramp_mono(ac, xs, r0, g0f, np.float32(beta), c0, s0, np.float32(delta), fa, fb, ga, gb)
        t = sub_end


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _mix_cpu(out, stems, table, gx, gv, px, pv, start, block, tasks, duck_key, env, depth_gain):
    """One pass over the bus ``out`` (length, 2) in timeline-aligned blocks; returns per-block finiteness.

    ``out`` comes from numpy, whose large allocations use transparent huge pages: an NRT-allocated bus
    would be first touched in 4 KiB page faults, which cost more than the mix itself."""
    block_grid = 1
    while block_grid * 2 <= block:
        block_grid *= 2
    length = out.shape[0]
    flat_out = out.reshape(-1)
    end = start + length
    b_first = start // block
    nblocks = (end - 1) // block - b_first + 1
    finite = np.empty(nblocks, dtype=np.bool_)
    nstems = table.shape[0]
    # scratch is allocated once per task, not per block: small allocations freed and made again in a
    # parallel loop make glibc return and re-fault their pages, which at first cost as much as the mix
    ntasks = min(nblocks, tasks)
    for task in prange(ntasks):
        acc_buf = np.empty(2 * block, dtype=np.float32)
        ducked_buf = np.empty(2 * block, dtype=np.float32)
        gains_buf = np.empty(2 * block, dtype=np.float32)
        kinds = np.empty(nstems, dtype=np.int64)         # _WHOLE_*, or -1: nothing to add
        coefs = np.empty((nstems, max(1, block // min(_PAIR_CELL, block)), 6), dtype=np.float32)
        whole = np.empty(nstems, dtype=np.int64)         # whole-block stems into acc, in stem order
        whole_ducked = np.empty(nstems, dtype=np.int64)  # ... into acc_ducked
        silent = np.zeros(6, dtype=np.float32)
        for bi in range(task * nblocks // ntasks, (task + 1) * nblocks // ntasks):
            b = b_first + bi
            block_start = b * block
            t0 = max(start, block_start)
            t1 = min(end, block_start + block)
            m_count = t1 - t0
            acc = acc_buf[:2 * m_count]
            acc[:] = 0.0
            # ducked stems are summed apart and lowered once per frame by the envelope, worked out below
            acc_ducked = ducked_buf[:2 * m_count]
            n_whole = n_whole_ducked = 0
            any_ducked = False
            for s in range(nstems):
                off = table[s, _OFF]
                n = table[s, _LEN]
                kinds[s] = -1  # inaudible or outside the window: nothing to add
                if table[s, _AUD] == 0 or max(t0, off) >= min(t1, off + n):
                    continue
                ducked = table[s, _TGT] != 0 and duck_key >= 0
                if ducked and not any_ducked:
                    acc_ducked[:] = 0.0
                    any_ducked = True
                kinds[s] = _whole_block_gains(off, n, table[s, _CH], table[s, _FIN], table[s, _FOUT], gx, gv,
                                              table[s, _G0], table[s, _G1], px, pv, table[s, _P0], table[s, _P1],
                                              block_start, block, coefs[s])
                if kinds[s] != _WHOLE_NONE and ducked:
                    whole_ducked[n_whole_ducked] = s
                    n_whole_ducked += 1
                elif kinds[s] != _WHOLE_NONE:
                    whole[n_whole] = s
                    n_whole += 1
            _acc_whole_block_stems(acc, stems, table, whole, n_whole, kinds, coefs, silent, t0, block_start, block)
            _acc_whole_block_stems(acc_ducked, stems, table, whole_ducked, n_whole_ducked, kinds, coefs, silent, t0,
                                   block_start, block)
            for s in range(nstems):
                if kinds[s] != _WHOLE_NONE:
                    continue
                target = acc_ducked if table[s, _TGT] != 0 and duck_key >= 0 else acc
                _acc_stem(target, stems[s], table[s, _OFF], table[s, _LEN], table[s, _CH], t0, t1,
                          table[s, _FIN], table[s, _FOUT], gx, gv, table[s, _G0], table[s, _G1], px, pv,
                          table[s, _P0], table[s, _P1], block_grid)
            bus = flat_out[2 * (t0 - start):2 * (t1 - start)]
            if any_ducked:
                gains = gains_buf[:2 * m_count]
                _duck_sample_gains(env, t0, t1, depth_gain, gains)
                finite[bi] = _store_ducked_block(acc, acc_ducked, gains, bus)
            else:
                finite[bi] = _store_block(acc, bus)
    return finite


def _mix_cpu_run(plan: _Plan, out: np.ndarray | None) -> tuple[np.ndarray, bool]:
    if plan.length == 0:
        return (np.zeros((0, 2), dtype=np.float32) if out is None else out), True
    stems = NumbaList([a.reshape(-1) for a in plan.stems]) if plan.stems else NumbaList([np.zeros(0, np.float32)])
    k = plan.duck_key
    if k >= 0:
        hops = -(-(plan.start + plan.length) // DUCK_HOP)
        active, key_bad = _duck_hops_cpu(plan.stems[k].reshape(-1), int(plan.table[k, _OFF]),
                                         int(plan.table[k, _LEN]), int(plan.table[k, _CH]), plan.duck_threshold,
                                         hops, cpu_tasks())
        if key_bad:  # (the last hop may read a little past the window, where a bad sample is no error)
            _require_finite(plan, k, 0, plan.start + plan.length)
        env = _duck_envelope(active, plan.duck_c_attack, plan.duck_c_release)
    else:
        env = np.zeros(1)
    if out is None:
        out = np.empty((plan.length, 2), dtype=np.float32)
        # first-touched here, not by the numba threads: faulting a fresh bus in from the parallel loop
        # contends for page faults with the stems streaming in
        out.fill(0.0)
    finite = _mix_cpu(out, stems, plan.table, plan.gain_x if plan.gain_x.size else np.zeros(1),
                           plan.gain_v if plan.gain_v.size else np.zeros(1),
                           plan.pan_x if plan.pan_x.size else np.zeros(1),
                           plan.pan_v if plan.pan_v.size else np.zeros(1), plan.start, BLOCK_FRAMES, cpu_tasks(),
                           k, env, plan.duck_depth_gain)
    return out, bool(finite.all())


# --------------------------------------------------------------------------------------------------
# CUDA body (numba.cuda, imported lazily)
# --------------------------------------------------------------------------------------------------

cuda = None  # numba.cuda, bound by load_cuda on first use


@lru_cache(maxsize=1)
def _cuda_kernels():
    load_cuda(globals())
    interp_at = device_function(_interp_at)
    hop_active = device_function(_hop_active)
    duck_activity_at = device_function(_duck_activity_at)

    @cuda.jit
    def duck_hops(key, off, n, ch, threshold, active):
        h = cuda.grid(1)
        if h < active.shape[0]:
            a, _ = hop_active(key, off, n, ch, threshold, h)
            active[h] = a

    @cuda.jit
    def mix_frames(flat, base, table, gx, gv, px, pv, start, length, env, use_duck, depth_gain, out, nonfinite):
        j = cuda.grid(1)
        if j < length:
            t = start + j
            duck = _duck_gain(duck_activity_at(env, t), depth_gain) if use_duck else 1.0
            left = 0.0
            right = 0.0
            for s in range(table.shape[0]):
                off = table[s, _OFF]
                n = table[s, _LEN]
                ch = table[s, _CH]
                k = t - off
                if table[s, _AUD] != 0 and 0 <= k < n:
                    g = (_db_to_gain(interp_at(gx, gv, table[s, _G0], table[s, _G1], t))
                         * _fade(k, n, table[s, _FIN], table[s, _FOUT]))
                    if use_duck and table[s, _TGT] != 0:
                        g *= duck
                    pan = interp_at(px, pv, table[s, _P0], table[s, _P1], t)
                    scale = 1.0 if ch == 1 else 1.4142135623730951
                    i = base[s] + k * ch
                    left += flat[i] * g * _pan_left(pan, scale)
                    right += flat[i + ch - 1] * g * _pan_right(pan, scale)
            left32 = np.float32(left)
            right32 = np.float32(right)
            out[j, 0] = left32
            out[j, 1] = right32
            if not (math.isfinite(left32) and math.isfinite(right32)):  # a float64 sum can overflow float32
                nonfinite[0] = 1  # every writer writes 1: no atomic needed

    return cuda, duck_hops, mix_frames


@dataclass
class _CudaInputs:
    """A plan's arrays on the GPU: every stem in one flat device array (``base[s]`` is stem s's first sample)."""
    flat: object
    base: object
    table: object
    gain_x: object
    gain_v: object
    pan_x: object
    pan_v: object
    key: object                   # the ducking key stem's samples, or None


def _cuda_upload(plan: _Plan) -> _CudaInputs:
    """Copy a plan's stems and tables to the GPU, stem by stem into one device array (no host concatenation)."""
    cuda = _cuda_kernels()[0]

    def dev(a):
        return cuda.to_device(a if a.size else np.zeros(1, a.dtype))

    sizes = [a.size for a in plan.stems]
    base = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if sizes else np.zeros(1, np.int64)
    flat = cuda.device_array(max(sum(sizes), 1), dtype=np.float32)
    for stem, b, size in zip(plan.stems, base, sizes):
        if size:
            flat[int(b):int(b) + size].copy_to_device(stem.reshape(-1))
    key = None
    if plan.duck_key >= 0:
        b, size = int(base[plan.duck_key]), sizes[plan.duck_key]
        key = flat[b:b + size] if size else dev(np.zeros(1, np.float32))
    return _CudaInputs(flat, dev(base), cuda.to_device(plan.table), dev(plan.gain_x), dev(plan.gain_v),
                       dev(plan.pan_x), dev(plan.pan_v), key)


def _cuda_mix_on_device(plan: _Plan, inputs: _CudaInputs):
    """Launch the ducking hops (when there is ducking) and the mix on uploaded inputs.

    The hops' activity comes back to the host (one byte per 32 frames), which smooths it with the CPU
    body's sequential pass and sends the envelope up. Returns the device bus ``(length, 2)`` and a
    one-element device flag set to 1 when a bus sample is NaN or inf. ``length`` must be > 0."""
    cuda, duck_hops, mix_frames = _cuda_kernels()
    length = plan.length
    env = np.zeros(1)
    if plan.duck_key >= 0:
        k = plan.duck_key
        hops = -(-(plan.start + length) // DUCK_HOP)
        d_active = cuda.device_array(hops, dtype=np.uint8)
        duck_hops[grid_1d(hops)](inputs.key, int(plan.table[k, _OFF]), int(plan.table[k, _LEN]),
                                                int(plan.table[k, _CH]), plan.duck_threshold, d_active)
        env = _duck_envelope(d_active.copy_to_host(), plan.duck_c_attack, plan.duck_c_release)
    d_out = cuda.device_array((length, 2), dtype=np.float32)
    d_nonfinite = cuda.to_device(np.zeros(1, np.int32))
    mix_frames[grid_1d(length)](inputs.flat, inputs.base, inputs.table, inputs.gain_x, inputs.gain_v, inputs.pan_x,
                                inputs.pan_v, plan.start, length, cuda.to_device(env), plan.duck_key >= 0,
                                plan.duck_depth_gain, d_out, d_nonfinite)
    return d_out, d_nonfinite


def _mix_cuda_run(plan: _Plan, out: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """The bus (copied into ``out`` when given) and whether all of it is finite, checked on the GPU."""
    if plan.length == 0:
        return (out if out is not None else np.zeros((0, 2), dtype=np.float32)), True
    d_out, d_nonfinite = _cuda_mix_on_device(plan, _cuda_upload(plan))
    bus = d_out.copy_to_host(out) if out is not None else d_out.copy_to_host()
    return bus, not d_nonfinite.copy_to_host()[0]


# --------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------

def mix(stems: Sequence[Stem], *, sample_rate: int, ducking: Ducking | None = None, length_s: float | None = None,
        start_s: float = 0.0, out: np.ndarray | None = None, backend: str = "auto") -> np.ndarray:
    """Mix stems into a stereo bus.

    Parameters
    ----------
    stems : sequence of Stem
        The stems, each with its samples (at ``sample_rate``), gain, pan, offset, mute/solo, automation
        and fades; see :class:`Stem`.
    sample_rate : int
        Hz, for every stem.
    ducking : Ducking, optional
        Sidechain ducking of ``ducking.targets`` by ``ducking.key`` (indices into ``stems``; see the
        module notes).
    length_s : float, optional
        Output duration in seconds; default: up to the end of the latest stem.
    start_s : float
        Timeline time of the first output frame. Rendering consecutive windows ``(start_s, length_s)``
        and concatenating them gives exactly the whole mix (the ducking state is carried).
    out : ndarray, optional
        A C-contiguous float32 ``(length, 2)`` array to mix into (overwritten), e.g. a player's reused
        buffer; by default a new array.
    backend : {"auto", "cpu", "cuda", "reference"}

    Returns
    -------
    ndarray, float32, shape (length, 2)
        The stereo bus (``out`` when given; not clipped: apply :func:`kernels.dsp.limit` for a ceiling).

    Raises
    ------
    ValueError
        For malformed stems or options (naming the stem and the fix), or when a stem's samples that reach
        the bus contain NaN or inf.
    """
    which = resolve_backend(backend)
    plan = _plan(stems, sample_rate=sample_rate, ducking=ducking, length_s=length_s, start_s=start_s)
    if out is not None and not (isinstance(out, np.ndarray) and out.dtype == np.float32 and out.flags.c_contiguous
                                and out.flags.writeable and out.shape == (plan.length, 2)):
        got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise ValueError(f"out must be a writable C-contiguous float32 array of shape ({plan.length}, 2), got "
                         f"{got}; pass out=None to get a new array")
    if plan.duck_key >= 0 and which != "cpu":  # the CPU body checks the key while it reads it
        _require_finite(plan, plan.duck_key, 0, plan.start + plan.length)
    if which == "cpu":
        bus, finite = _mix_cpu_run(plan, out)
    elif which == "cuda":
        bus, finite = _mix_cuda_run(plan, out)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            bus = _mix_reference(plan)
        finite = not bus.size or _first_nonfinite_row(bus) < 0
        if out is not None:
            out[...] = bus
            bus = out
    if not finite:
        for s in range(len(plan.stems)):
            if plan.table[s, _AUD]:
                _require_finite(plan, s, plan.start, plan.start + plan.length)
        raise ValueError("the mix overflowed to inf; a gain is far too high (check gain_db and gain_automation)")
    return bus


def _require_finite(plan: _Plan, s: int, t0: int, t1: int) -> None:
    off, n = plan.table[s, _OFF], plan.table[s, _LEN]
    lo, hi = max(0, t0 - off), min(n, t1 - off)
    if hi <= lo:
        return
    row = _first_nonfinite_row(plan.stems[s][lo:hi])
    if row >= 0:
        frame = lo + row
        raise ValueError(f"stem {s} contains NaN or inf at frame {frame} ({frame / plan.sample_rate:.3f} s into "
                         f"the stem); repair or replace the audio (e.g. np.nan_to_num(x, nan=0.0) if the gap "
                         f"should be silence)")
