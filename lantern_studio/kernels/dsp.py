"""Audio DSP kernels: biquad cascades, BS.1770-4 loudness and true peak, crossfeed, look-ahead limiter.

Every function takes audio as float arrays ``(n,)`` mono or ``(n, c)`` with channels last, samples in
[-1, 1], and a ``backend="auto"|"cpu"|"cuda"|"reference"``.

Parallelisation: recursive filters (biquads, K-weighting, the crossfeed low-pass) are sequential in time,
so the numba bodies parallelise across channels (``prange`` over channels on the CPU, one thread per
channel on CUDA). The true-peak detector, the limiter's sliding minimum and its gain application are
parallel over frames; the limiter's release recursion is one sequential pass (one CUDA thread).

State is carried explicitly, so block-by-block processing equals one-shot processing:

* :func:`biquad_cascade` returns ``(out, state)``; pass ``state`` to the next block.
* :class:`LoudnessMeter` accumulates blocks and reports the same loudness as :func:`integrated_loudness`.
* :class:`CrossfeedStream` processes blocks with the same output as :func:`crossfeed`.

The per-sample arithmetic (the biquad step, the limiter's release step, the crossfeed sum) is written
once as small ``@njit`` functions that the CPU loops and the CUDA kernels both call. The true peak is the
exception: the CUDA body evaluates ``_tp_at`` per frame, while the CPU body accumulates the same taps
across a block of frames so it vectorises (the one-frame form cannot). The ``reference`` bodies (scipy and
numpy, float64) are **the specification**: every other body is tested against them.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit, prange

from lantern_studio.kernels.backend import (check_number, check_rate, device_function,
                                            first_nonfinite_row as _first_nonfinite, grid_1d, load_cuda,
                                            resolve_backend)

#: Most biquad sections the CUDA body supports (its per-thread state lives in local memory).
MAX_CUDA_SECTIONS = 16

_FASTMATH = {"contract", "arcp", "nsz", "afn"}  # no nnan/ninf: NaN must survive to be reported

# BS.1770-4 channel weights for L, R, C, Ls, Rs.
_CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)
_ABSOLUTE_GATE_LUFS = -70.0
_RELATIVE_GATE_LU = -10.0

# True-peak interpolator: Kaiser-windowed sinc, 4 phases, 2 * _TP_HALF taps per phase.
_TP_OVERSAMPLE = 4
_TP_HALF = 12
_TP_BETA = 8.0
# The limiter aims this factor (-0.01 dB) under its ceiling to absorb intersample overshoot of the moving gain.
_LIMITER_MARGIN = 10.0 ** (-0.01 / 20.0)


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------

def _as_audio(audio, *, name="audio", max_channels=None, exact_channels=None, check_finite=True):
    """Return (audio as C-contiguous 2-D (n, c) float array, was_1d)."""
    if not isinstance(audio, np.ndarray):
        audio = np.asarray(audio)
    if not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"{name} has dtype {audio.dtype}; give float samples in [-1, 1] "
                         f"(for int16 PCM use x.astype(np.float32) / 32768)")
    was_1d = audio.ndim == 1
    if was_1d:
        audio = audio.reshape(-1, 1)
    elif audio.ndim != 2:
        raise ValueError(f"{name} has shape {audio.shape}; give (frames,) or (frames, channels)")
    c = audio.shape[1]
    if audio.shape[0] in (1, 2) and c > 8:
        raise ValueError(f"{name} has shape {audio.shape}, which looks channels-first; pass audio.T "
                         f"(frames, channels)")
    if exact_channels is not None and c != exact_channels:
        raise ValueError(f"{name} has {c} channel(s) (shape {audio.shape}); this needs exactly "
                         f"{exact_channels}: shape (frames, {exact_channels})")
    if max_channels is not None and c > max_channels:
        raise ValueError(f"{name} has {c} channels; at most {max_channels} are supported "
                         f"(ITU order L, R, C, Ls, Rs)")
    if c == 0:
        raise ValueError(f"{name} has no channels (shape {audio.shape})")
    if audio.dtype not in (np.float32, np.float64):
        audio = audio.astype(np.float32)
    audio = np.ascontiguousarray(audio)
    if check_finite and audio.size:
        row = _first_nonfinite(audio)
        if row >= 0:
            raise ValueError(f"{name} contains NaN or inf at frame {row}; repair the audio first "
                             f"(e.g. np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0))")
    return audio, was_1d


# --------------------------------------------------------------------------------------------------
# Scalar arithmetic shared by CPU and CUDA bodies
# --------------------------------------------------------------------------------------------------

@njit(cache=True, fastmath=_FASTMATH)
def _biquad_step(x, b0, b1, b2, a1, a2, z0, z1):
    """One direct-form-II-transposed step: returns (y, new z0, new z1) (scipy.signal.sosfilt's form)."""
    y = b0 * x + z0
    return y, b1 * x - a1 * y + z1, b2 * x - a2 * y


@njit(cache=True, fastmath=_FASTMATH)
def _release_step(m, e_prev, c_release):
    """Limiter gain envelope: instant down to ``m``, one-pole recovery up towards it."""
    e = e_prev + c_release * (m - e_prev)
    return m if m < e else e  # (builtin min/max do not compile for the CUDA target in numba 0.68)


@njit(cache=True, fastmath=_FASTMATH)
def _crossfeed_out(direct, cross, strength, norm):
    return (direct + strength * cross) * norm


# --------------------------------------------------------------------------------------------------
# Biquad cascades
# --------------------------------------------------------------------------------------------------

def _normalized_sos(sos):
    sos = np.asarray(sos, dtype=np.float64)
    if sos.ndim != 2 or sos.shape[1] != 6 or sos.shape[0] < 1:
        raise ValueError(f"sos has shape {sos.shape}; give second-order sections as scipy does: (k, 6) rows "
                         f"(b0, b1, b2, a0, a1, a2), k >= 1")
    if not np.isfinite(sos).all():
        raise ValueError("sos contains NaN or inf")
    if (sos[:, 3] == 0).any():
        raise ValueError("sos has a section with a0 == 0; every section needs a0 != 0")
    return np.ascontiguousarray(sos / sos[:, 3:4])


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _sos_cpu(x, sos, zi):
    """Channels in parallel; within a channel, blocks of samples pass through one section at a time so
    each section's recursion runs on scalar state in registers."""
    n, c = x.shape
    k = sos.shape[0]
    out = np.empty_like(x)
    zf = zi.copy()
    block = 4096
    for ch in prange(c):
        buf = np.empty(block)
        z0 = np.empty(k)
        z1 = np.empty(k)
        for s in range(k):
            z0[s] = zi[s, 0, ch]
            z1[s] = zi[s, 1, ch]
        for lo in range(0, n, block):
            hi = min(n, lo + block)
            m = hi - lo
            for i in range(m):
                buf[i] = x[lo + i, ch]
            for s in range(k):
                b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
                s0 = z0[s]
                s1 = z1[s]
                for i in range(m):
                    buf[i], s0, s1 = _biquad_step(buf[i], b0, b1, b2, a1, a2, s0, s1)
                z0[s] = s0
                z1[s] = s1
            for i in range(m):
                out[lo + i, ch] = buf[i]
        for s in range(k):
            zf[s, 0, ch] = z0[s]
            zf[s, 1, ch] = z1[s]
    return out, zf


def biquad_cascade(audio, sos, *, state=None, backend="auto") -> tuple[np.ndarray, np.ndarray]:
    """Filter through a cascade of biquads (direct form II transposed), carrying state between blocks.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (n, c), float
        Samples, channels last. Each channel is filtered independently.
    sos : array_like, shape (k, 6)
        Second-order sections ``(b0, b1, b2, a0, a1, a2)`` as :func:`scipy.signal.sosfilt` takes them.
    state : ndarray, optional
        Filter state from the previous block: shape (k, 2, c) (or (k, 2) for 1-D audio), float64, the
        same layout as scipy's ``zi``. None starts from rest.
    backend : {"auto", "cpu", "cuda", "reference"}

    Returns
    -------
    out : ndarray, same shape and dtype as ``audio`` (float32 or float64; computed in float64)
    state : ndarray, float64
        State after the last sample; feed it to the next block so that streaming equals one-shot.
    """
    which = resolve_backend(backend)
    x, was_1d = _as_audio(audio)
    sos = _normalized_sos(sos)
    k, c = sos.shape[0], x.shape[1]
    if state is None:
        zi = np.zeros((k, 2, c))
    else:
        zi = np.asarray(state, dtype=np.float64)
        want = (k, 2) if was_1d else (k, 2, c)
        if zi.shape != want:
            raise ValueError(f"state has shape {zi.shape}; for {k} section(s) and this audio it must be {want} "
                             f"(pass the state returned for the previous block)")
        zi = np.ascontiguousarray(zi.reshape(k, 2, c))
    if x.shape[0] == 0:
        out, zf = x.copy(), zi.copy()
    elif which == "reference":
        from scipy.signal import sosfilt

        out, zf = sosfilt(sos, x.astype(np.float64), axis=0, zi=zi)
        out = out.astype(x.dtype)
    elif which == "cpu":
        out, zf = _sos_cpu(x, sos, zi)
    else:
        out, zf = _sos_cuda(x, sos, zi)
    if was_1d:
        return out[:, 0], zf[:, :, 0]
    return out, zf


# --------------------------------------------------------------------------------------------------
# K-weighting and loudness
# --------------------------------------------------------------------------------------------------

def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """BS.1770-4 K-weighting as two second-order sections for any sample rate.

    The shelf ("pre-filter") and the RLB high-pass are designed from their analog prototypes (Brecht De
    Man's derivation), which reproduces the coefficients tabulated in BS.1770-4 at 48 kHz.

    Returns
    -------
    ndarray, shape (2, 6), float64
        Rows ``(b0, b1, b2, 1, a1, a2)``: shelf first, then high-pass.
    """
    fs = check_rate(sample_rate)
    if fs < 8000:
        raise ValueError(f"K-weighting needs a sample rate of at least 8000 Hz (its shelf sits at 1.7 kHz), "
                         f"got {fs}; resample the audio first")
    # high shelf
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    kk = math.tan(math.pi * f0 / fs)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + kk / q + kk * kk
    shelf = [(vh + vb * kk / q + kk * kk) / a0, 2.0 * (kk * kk - vh) / a0, (vh - vb * kk / q + kk * kk) / a0,
             1.0, 2.0 * (kk * kk - 1.0) / a0, (1.0 - kk / q + kk * kk) / a0]
    # high pass
    f0, q = 38.13547087602444, 0.5003270373238773
    kk = math.tan(math.pi * f0 / fs)
    a0 = 1.0 + kk / q + kk * kk
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (kk * kk - 1.0) / a0, (1.0 - kk / q + kk * kk) / a0]
    return np.array([shelf, highpass], dtype=np.float64)


def _hop_count(n, fs):
    """Number of complete 100 ms hops; hop j covers samples [(j * fs) // 10, ((j + 1) * fs) // 10)."""
    return (n * 10) // fs


_KW_BLOCK = 16  # frames per K-weighting block: the block size that measured fastest


@lru_cache(maxsize=8)
def _kweight_block_matrices(fs: int):
    """The K-weighting cascade as one 4-state linear system, lifted to blocks of _KW_BLOCK samples.

    The state is ``(z00, z01, z10, z11)``, the direct-form-II-transposed states of both sections (the
    layout of ``zi``). With ``s' = A s + B x`` and ``y = C s + D x`` per sample, a block of L samples is
    ``y = O s0 + T x`` and ``s_L = P s0 + Q x`` with ``O[k] = C A^k``, ``T[k, j] = C A^(k-1-j) B`` (``D`` on
    the diagonal), ``P = A^L`` and ``Q[:, j] = A^(L-1-j) B``. Matrices come from the shared scalar step.
    """
    sos = k_weighting_sos(fs)

    def step(state, x):
        y1, z00, z01 = _biquad_step.py_func(x, *sos[0, [0, 1, 2, 4, 5]], state[0], state[1])
        y2, z10, z11 = _biquad_step.py_func(y1, *sos[1, [0, 1, 2, 4, 5]], state[2], state[3])
        return np.array([z00, z01, z10, z11]), y2

    a = np.zeros((4, 4))
    c = np.zeros(4)
    for j in range(4):
        a[:, j], c[j] = step(np.eye(4)[j], 0.0)
    b, d = step(np.zeros(4), 1.0)
    n = _KW_BLOCK
    o = np.empty((n, 4))
    power = np.eye(4)
    impulse = np.empty(n)  # impulse[m] = C A^(m-1) B, impulse[0] = D
    impulse[0] = d
    ab = b.copy()
    for k in range(n):
        o[k] = c @ power
        power = a @ power
        if k + 1 < n:
            impulse[k + 1] = c @ ab
            ab = a @ ab
    t = np.zeros((n, n))
    for k in range(n):
        t[k, :k + 1] = impulse[k::-1]
    q = np.empty((4, n))
    ab = b.copy()
    for j in range(n - 1, -1, -1):
        q[:, j] = ab
        ab = a @ ab
    return np.ascontiguousarray(o), np.ascontiguousarray(t), np.ascontiguousarray(power), np.ascontiguousarray(q)


@njit(cache=True, fastmath=_FASTMATH | {"reassoc"})  # reductions vectorise; the input is checked finite
def _kw_blocks(x, ch, i0, nbk, xt, y, u, st, obs, toeplitz, apow, q):
    """``nbk`` consecutive blocks of the lifted K-weighting system starting at frame ``i0`` of channel ``ch``.

    The parts that do not depend on the state (``T x`` and ``Q x``) are computed for all blocks at once with
    blocks along the contiguous axis (so the loops vectorise across blocks); only the 4x4 state update runs
    block by block. Advances ``st`` and returns the sum of squares of the outputs.
    """
    nb = obs.shape[0]
    for b in range(nbk):
        base = i0 + b * nb
        for j in range(nb):
            xt[j, b] = x[base + j, ch]
    for k in range(nb):
        for b in range(nbk):
            y[k, b] = 0.0
        for j in range(k + 1):
            w = toeplitz[k, j]
            for b in range(nbk):
                y[k, b] += w * xt[j, b]
    for r in range(4):
        for b in range(nbk):
            u[r, b] = 0.0
        for j in range(nb):
            w = q[r, j]
            for b in range(nbk):
                u[r, b] += w * xt[j, b]
    s0, s1, s2, s3 = st[0], st[1], st[2], st[3]
    for b in range(nbk):  # u[:, b] becomes the state at the start of block b
        n0 = apow[0, 0] * s0 + apow[0, 1] * s1 + apow[0, 2] * s2 + apow[0, 3] * s3 + u[0, b]
        n1 = apow[1, 0] * s0 + apow[1, 1] * s1 + apow[1, 2] * s2 + apow[1, 3] * s3 + u[1, b]
        n2 = apow[2, 0] * s0 + apow[2, 1] * s1 + apow[2, 2] * s2 + apow[2, 3] * s3 + u[2, b]
        n3 = apow[3, 0] * s0 + apow[3, 1] * s1 + apow[3, 2] * s2 + apow[3, 3] * s3 + u[3, b]
        u[0, b], u[1, b], u[2, b], u[3, b] = s0, s1, s2, s3
        s0, s1, s2, s3 = n0, n1, n2, n3
    st[0], st[1], st[2], st[3] = s0, s1, s2, s3
    total = 0.0
    for k in range(nb):
        o0, o1, o2, o3 = obs[k, 0], obs[k, 1], obs[k, 2], obs[k, 3]
        for b in range(nbk):
            v = y[k, b] + o0 * u[0, b] + o1 * u[1, b] + o2 * u[2, b] + o3 * u[3, b]
            total += v * v
    return total


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _kweight_hops_cpu(x, sos, fs, hop0, nhops, zi, pos0, obs, toeplitz, apow, q):
    """K-weight every channel (the two sections of ``sos``) and sum squares per 100 ms hop.

    ``pos0`` is the absolute index of x[0] (for streaming); hops are numbered from ``hop0`` and only
    ``nhops`` complete ones are written. Returns (hop sums (nhops, c), partial sum of the unfinished hop
    per channel, final state). Whole blocks go through the block matrices of
    :func:`_kweight_block_matrices` (:func:`_kw_blocks`: vectorised across the blocks of a hop, one 4x4
    state update per block); samples before a hop boundary that do not fill a block take the per-sample
    biquad step.
    """
    n, c = x.shape
    nb = obs.shape[0]
    sums = np.zeros((nhops, c))
    partial = np.zeros(c)
    zf = zi.copy()
    b00, b01, b02, a01, a02 = sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 4], sos[0, 5]
    b10, b11, b12, a11, a12 = sos[1, 0], sos[1, 1], sos[1, 2], sos[1, 4], sos[1, 5]
    hop_max = (fs + 9) // 10 + 1
    nbk_max = hop_max // nb + 1
    for ch in prange(c):
        xt = np.empty((nb, nbk_max))
        yy = np.empty((nb, nbk_max))
        uu = np.empty((4, nbk_max))
        st = np.empty(4)
        z00 = zi[0, 0, ch]
        z01 = zi[0, 1, ch]
        z10 = zi[1, 0, ch]
        z11 = zi[1, 1, ch]
        h = 0
        i = 0
        acc = 0.0
        while True:
            boundary = ((hop0 + h + 1) * fs) // 10 - pos0   # end of the current hop, relative to x[0]
            end = min(boundary, n)
            nbk = (end - i) // nb
            if nbk > 0:
                st[0], st[1], st[2], st[3] = z00, z01, z10, z11
                acc += _kw_blocks(x, ch, i, nbk, xt, yy, uu, st, obs, toeplitz, apow, q)
                z00, z01, z10, z11 = st[0], st[1], st[2], st[3]
                i += nbk * nb
            for j in range(i, end):
                v = np.float64(x[j, ch])
                v, z00, z01 = _biquad_step(v, b00, b01, b02, a01, a02, z00, z01)
                v, z10, z11 = _biquad_step(v, b10, b11, b12, a11, a12, z10, z11)
                acc += v * v
            i = end
            if end == boundary:
                if h < nhops:
                    sums[h, ch] = acc
                h += 1
                acc = 0.0
            if i >= n:
                break
        partial[ch] = acc
        zf[0, 0, ch] = z00
        zf[0, 1, ch] = z01
        zf[1, 0, ch] = z10
        zf[1, 1, ch] = z11
    return sums, partial, zf


def _kweight_hops_reference(x, fs):
    from scipy.signal import sosfilt

    y = sosfilt(k_weighting_sos(fs), x.astype(np.float64), axis=0)
    nh = _hop_count(x.shape[0], fs)
    edges = (np.arange(nh + 1) * fs) // 10
    sq = np.square(y)
    csum = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(sq, axis=0)])
    return csum[edges[1:]] - csum[edges[:-1]]


def _hop_sums(x, fs, which):
    """K-weighted sums of squares per 100 ms hop, shape (hops, c); raises for NaN/inf in ``x``."""
    nh = _hop_count(x.shape[0], fs)
    if which == "reference":
        with np.errstate(invalid="ignore", over="ignore"):
            sums = _kweight_hops_reference(x, fs)
    elif which == "cpu":
        zi = np.zeros((2, 2, x.shape[1]))
        sums, partial, _ = _kweight_hops_cpu(x, k_weighting_sos(fs), fs, 0, nh, zi, 0, *_kweight_block_matrices(fs))
        sums = sums if np.isfinite(partial).all() else np.full_like(sums, np.nan)
    else:
        sums = _kweight_hops_cuda(x, fs, nh)
    if not np.isfinite(sums).all() or x.shape[0] > (nh * fs) // 10 and _first_nonfinite(x[(nh * fs) // 10:]) >= 0:
        _as_audio(x)  # names the first bad frame
    return sums


def _loudness_from_hops(hops: np.ndarray, fs: int) -> dict:
    """Gated integrated, max momentary and max short-term loudness from 100 ms hop sums (nh, c)."""
    c = hops.shape[1]
    weights = np.array(_CHANNEL_WEIGHTS[:c])
    nh = hops.shape[0]

    def window_power(width):
        if nh < width:
            return np.zeros((0, c))
        csum = np.concatenate([np.zeros((1, c)), np.cumsum(hops, axis=0)])
        return (csum[width:] - csum[:-width]) / (width * fs / 10.0)

    def lufs(power):
        with np.errstate(divide="ignore"):
            return -0.691 + 10.0 * np.log10(power)

    z = window_power(4)  # 400 ms blocks, 75 % overlap (z[j, ch] mean square)
    block = lufs(z @ weights)
    abs_gated = block > _ABSOLUTE_GATE_LUFS
    if not abs_gated.any():
        integrated = -math.inf
    else:
        relative = lufs(z[abs_gated].mean(axis=0) @ weights) + _RELATIVE_GATE_LU
        gated = abs_gated & (block > relative)
        integrated = float(lufs(z[gated].mean(axis=0) @ weights)) if gated.any() else -math.inf
    short = window_power(30)
    return {
        "integrated_lufs": float(integrated),
        "momentary_max_lufs": float(block.max()) if block.size else math.nan,
        "short_term_max_lufs": float(lufs(short @ weights).max()) if short.size else math.nan,
    }


def _loudness_input(audio, sample_rate):
    fs = check_rate(sample_rate)
    # NaN/inf poison the hop sums, so the finiteness scan only runs when a sum comes out non-finite
    x, _ = _as_audio(audio, max_channels=len(_CHANNEL_WEIGHTS), check_finite=False)
    if x.shape[0] < (4 * fs) // 10:
        raise ValueError(f"audio has {x.shape[0]} frames ({x.shape[0] / fs:.3f} s); loudness needs at least "
                         f"one 400 ms gating block ({(4 * fs) // 10} frames at {fs} Hz)")
    return x, fs


def integrated_loudness(audio, sample_rate: int, *, backend="auto") -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4: K-weighting, 400 ms blocks, -70 LUFS and -10 LU gates).

    Parameters
    ----------
    audio : ndarray, shape (n,) or (n, c), float, c <= 5 in ITU order (L, R, C, Ls, Rs)
        At least 0.4 s long.
    sample_rate : int
        Hz.

    Returns
    -------
    float
        LUFS; ``-inf`` for silence (no block above the -70 LUFS absolute gate).
    """
    which = resolve_backend(backend)
    x, fs = _loudness_input(audio, sample_rate)
    return _loudness_from_hops(_hop_sums(x, fs, which), fs)["integrated_lufs"]


def loudness_stats(audio, sample_rate: int, *, backend="auto") -> dict:
    """Integrated, max short-term (3 s) and max momentary (400 ms) loudness, plus the true peak.

    Returns
    -------
    dict
        ``{"integrated_lufs", "short_term_max_lufs", "momentary_max_lufs", "true_peak_dbtp"}`` as floats;
        loudness is ``-inf`` for silence, ``short_term_max_lufs`` is NaN for audio shorter than 3 s.
    """
    which = resolve_backend(backend)
    x, fs = _loudness_input(audio, sample_rate)
    stats = _loudness_from_hops(_hop_sums(x, fs, which), fs)
    stats["true_peak_dbtp"] = _true_peak_db(x, which)
    return stats


class LoudnessMeter:
    """Streaming BS.1770-4 meter: feed blocks with :meth:`add`; the readings equal the one-shot functions.

    Parameters
    ----------
    sample_rate : int
        Hz.
    channels : int
        1 to 5 (ITU order L, R, C, Ls, Rs).
    """

    def __init__(self, sample_rate: int, channels: int, *, backend: str = "auto"):
        self.sample_rate = check_rate(sample_rate)
        if not isinstance(channels, (int, np.integer)) or not 1 <= channels <= len(_CHANNEL_WEIGHTS):
            raise ValueError(f"channels must be 1 to {len(_CHANNEL_WEIGHTS)}, got {channels!r}")
        if resolve_backend(backend) == "cuda":
            raise ValueError("LoudnessMeter streams on the CPU; use backend='cpu' or 'auto'")
        self.channels = int(channels)
        self._sos = k_weighting_sos(self.sample_rate)
        self._state = np.zeros((2, 2, self.channels))
        self._partial = np.zeros(self.channels)
        self._hops: list[np.ndarray] = []
        self._hop_count = 0
        self._frames = 0

    def add(self, block) -> None:
        """Add a block of shape (m,) (mono meter) or (m, channels)."""
        x, _ = _as_audio(block, name="block", exact_channels=self.channels)
        m = x.shape[0]
        if m == 0:
            return
        fs = self.sample_rate
        end_hops = _hop_count(self._frames + m, fs)
        new = end_hops - self._hop_count
        sums, partial, self._state = _kweight_hops_cpu(x, self._sos, fs, self._hop_count, new, self._state,
                                                       self._frames, *_kweight_block_matrices(fs))
        if new > 0:
            sums[0] += self._partial
            self._hops.append(sums)
            self._partial = partial
        else:
            self._partial = self._partial + partial
        self._hop_count = end_hops
        self._frames += m

    def stats(self) -> dict:
        """``{"integrated_lufs", "short_term_max_lufs", "momentary_max_lufs"}`` of everything added so far."""
        hops = np.concatenate(self._hops) if self._hops else np.zeros((0, self.channels))
        return _loudness_from_hops(hops, self.sample_rate)

    def integrated_lufs(self) -> float:
        return self.stats()["integrated_lufs"]


# --------------------------------------------------------------------------------------------------
# True peak (4x oversampled)
# --------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _tp_phases() -> np.ndarray:
    """Interpolation taps, shape (3, 2 * _TP_HALF): value at i + p/4 is sum_m x[i + m - _TP_HALF + 1] h[p-1, m]."""
    m = np.arange(-_TP_HALF + 1, _TP_HALF + 1)
    rows = []
    for p in range(1, _TP_OVERSAMPLE):
        u = m - p / _TP_OVERSAMPLE
        window = np.i0(_TP_BETA * np.sqrt(np.clip(1.0 - (u / _TP_HALF) ** 2, 0.0, None))) / np.i0(_TP_BETA)
        rows.append(np.sinc(u) * window)
    return np.ascontiguousarray(np.array(rows, dtype=np.float64))


@njit(cache=True, fastmath=_FASTMATH)
def _tp_at(x, i, ch, h):
    """max(|x[i]|, |interpolated x at i + 1/4, i + 2/4, i + 3/4|) for one channel (zeros outside)."""
    n = x.shape[0]
    taps = h.shape[1]
    half = taps // 2
    best = abs(np.float64(x[i, ch]))
    lo = i - half + 1
    for p in range(h.shape[0]):
        v = 0.0
        if lo >= 0 and lo + taps <= n:
            for m in range(taps):
                v += x[lo + m, ch] * h[p, m]
        else:
            for m in range(taps):
                j = lo + m
                if 0 <= j < n:
                    v += x[j, ch] * h[p, m]
        v = abs(v)
        if v > best:
            best = v
    return best


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _tp_track_cpu(x, h):
    """Per-frame true peak, max over channels: shape (n,), float64.

    Blocks of frames in parallel; per channel the block (with its filter margins) is copied to a
    contiguous buffer and each phase is accumulated tap by tap across the block, so the loops vectorise
    (float32 accumulation: ~1e-7 relative, far below the interpolator's own error).
    """
    n, c = x.shape
    out = np.empty(n)
    taps = h.shape[1]
    half = taps // 2
    hf = h.astype(np.float32)
    block = 4096
    nblocks = (n + block - 1) // block
    for b in prange(nblocks):
        lo = b * block
        hi = min(n, lo + block)
        m = hi - lo
        best = np.zeros(m, dtype=np.float32)
        buf = np.zeros(m + taps, dtype=np.float32)
        acc = np.empty(m, dtype=np.float32)
        for ch in range(c):
            # buf[j] = x[lo - half + 1 + j], zero outside the signal
            for j in range(m + taps - 1):
                src = lo - half + 1 + j
                buf[j] = x[src, ch] if 0 <= src < n else 0.0
            for i in range(m):
                best[i] = max(best[i], abs(buf[i + half - 1]))
            for p in range(h.shape[0]):
                acc[:] = 0.0
                for t in range(taps):
                    w = hf[p, t]
                    for i in range(m):
                        acc[i] += buf[i + t] * w
                for i in range(m):
                    best[i] = max(best[i], abs(acc[i]))
        for i in range(m):
            out[lo + i] = best[i]
    return out


def _tp_track_reference(x) -> np.ndarray:
    h = _tp_phases()
    n = x.shape[0]
    half = h.shape[1] // 2
    xd = x.astype(np.float64)
    best = np.abs(xd)
    padded = np.concatenate([np.zeros((half, x.shape[1])), xd, np.zeros((half, x.shape[1]))])
    for p in range(h.shape[0]):
        v = np.zeros_like(xd)
        for m in range(h.shape[1]):  # v[i] = sum_m x[i + m - half + 1] h[p, m]
            v += h[p, m] * padded[m + 1:m + 1 + n]
        best = np.maximum(best, np.abs(v))
    return best.max(axis=1) if n else np.zeros(0)


def _tp_track(x, which) -> np.ndarray:
    if which == "reference":
        return _tp_track_reference(x)
    if which == "cpu":
        return _tp_track_cpu(x, _tp_phases())
    return _tp_track_cuda(x)


def _true_peak_db(x, which) -> float:
    if x.shape[0] == 0:
        return -math.inf
    peak = float(_tp_track(x, which).max())
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def true_peak_db(audio, sample_rate: int, *, backend="auto") -> float:
    """True peak in dBTP: the largest magnitude of the 4x oversampled signal (BS.1770-4 Annex 2 style).

    The interpolator is a 4-phase Kaiser-windowed sinc with 24 taps per phase, so original samples are
    kept exactly and intersample peaks are found within a few hundredths of a dB below 20 kHz at 48 kHz.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (n, c), float
    sample_rate : int
        Hz (validated; the oversampling factor is the same at every rate).

    Returns
    -------
    float
        dBTP; ``-inf`` for silence or empty audio.
    """
    which = resolve_backend(backend)
    check_rate(sample_rate)
    x, _ = _as_audio(audio)
    return _true_peak_db(x, which)


# --------------------------------------------------------------------------------------------------
# Crossfeed
# --------------------------------------------------------------------------------------------------

def _crossfeed_params(sample_rate, strength, cutoff_hz, delay_ms):
    fs = check_rate(sample_rate)
    strength = check_number("strength", strength, lo=0.0, hi=1.0)
    cutoff_hz = check_number("cutoff_hz", cutoff_hz, lo=0.0, lo_open=True)
    if cutoff_hz >= fs / 2:
        raise ValueError(f"cutoff_hz must be below the Nyquist frequency ({fs / 2} Hz), got {cutoff_hz}")
    delay_ms = check_number("delay_ms", delay_ms, lo=0.0)
    delay = int(round(delay_ms * fs / 1000.0))
    kk = math.tan(math.pi * cutoff_hz / fs)  # first-order low-pass by the bilinear transform
    b0 = kk / (1.0 + kk)
    a1 = (kk - 1.0) / (kk + 1.0)
    return fs, strength, delay, b0, a1


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _crossfeed_cpu(x, history, delay, b0, a1, strength, zi):
    """out[:, ch] = (x[:, ch] + strength * lowpass(x[:, 1 - ch] delayed)) / (1 + strength).

    ``history`` holds the ``delay`` frames before x[0]; ``zi`` the low-pass state per output channel.
    """
    n = x.shape[0]
    out = np.empty_like(x)
    zf = zi.copy()
    norm = 1.0 / (1.0 + strength)
    for ch in prange(2):
        other = 1 - ch
        z0 = zi[ch]
        head = min(n, delay)
        for i in range(head):  # the cross-fed samples still come from the previous block
            y, z0, _ = _biquad_step(np.float64(history[i, other]), b0, b0, 0.0, a1, 0.0, z0, 0.0)
            out[i, ch] = _crossfeed_out(np.float64(x[i, ch]), y, strength, norm)
        for i in range(head, n):
            y, z0, _ = _biquad_step(np.float64(x[i - delay, other]), b0, b0, 0.0, a1, 0.0, z0, 0.0)
            out[i, ch] = _crossfeed_out(np.float64(x[i, ch]), y, strength, norm)
        zf[ch] = z0
    return out, zf


def _crossfeed_reference(x, history, delay, b0, a1, strength, zi):
    from scipy.signal import lfilter

    xd = x.astype(np.float64)
    delayed = np.concatenate([history.astype(np.float64), xd])[:x.shape[0]]
    out = np.empty_like(xd)
    zf = np.empty(2)
    for ch in range(2):
        y, z = lfilter([b0, b0], [1.0, a1], delayed[:, 1 - ch], zi=[zi[ch]])
        out[:, ch] = (xd[:, ch] + strength * y) / (1.0 + strength)
        zf[ch] = z[0]
    return out.astype(x.dtype), zf


def crossfeed(audio, sample_rate: int, *, strength: float = 0.5, cutoff_hz: float = 700.0, delay_ms: float = 0.3,
              backend="auto") -> np.ndarray:
    """Headphone crossfeed (Bauer style): each ear also hears the other channel, low-passed and delayed.

    ``out_L = (L + strength * lowpass(R delayed)) / (1 + strength)`` and symmetrically for R, with a
    first-order low-pass at ``cutoff_hz`` and the delay rounded to whole samples. The normalisation keeps a
    centred low-frequency sound at its level.

    Parameters
    ----------
    audio : ndarray, shape (n, 2), float
    sample_rate : int
        Hz.
    strength : float
        Cross-feed level in [0, 1] (linear; 0.5 is -6 dB, 0 returns the input).
    cutoff_hz : float
        Low-pass corner of the cross-fed path, below Nyquist.
    delay_ms : float
        Interaural delay (>= 0), ~0.3 ms for a head.

    Returns
    -------
    ndarray, shape (n, 2), same float dtype as ``audio``
    """
    return CrossfeedStream(sample_rate, strength=strength, cutoff_hz=cutoff_hz, delay_ms=delay_ms,
                           backend=backend).process(audio)


class CrossfeedStream:
    """Block-by-block :func:`crossfeed`: concatenating ``process`` outputs equals one call on the whole."""

    def __init__(self, sample_rate: int, *, strength: float = 0.5, cutoff_hz: float = 700.0,
                 delay_ms: float = 0.3, backend: str = "auto"):
        self._which = resolve_backend(backend)
        self.sample_rate, self.strength, self.delay, self._b0, self._a1 = _crossfeed_params(
            sample_rate, strength, cutoff_hz, delay_ms)
        self._history = np.zeros((self.delay, 2))
        self._state = np.zeros(2)

    def process(self, block) -> np.ndarray:
        """Process frames (m, 2); returns (m, 2) in the block's float dtype."""
        x, _ = _as_audio(block, exact_channels=2)
        args = (x, np.ascontiguousarray(self._history, dtype=x.dtype), self.delay, self._b0, self._a1,
                self.strength, self._state)
        if self._which == "reference":
            out, self._state = _crossfeed_reference(*args)
        elif self._which == "cpu":
            out, self._state = _crossfeed_cpu(*args)
        else:
            out, self._state = _crossfeed_cuda(*args)
        if self.delay:
            self._history = np.concatenate([self._history, x.astype(np.float64)])[-self.delay:]
        return out


# --------------------------------------------------------------------------------------------------
# Look-ahead limiter
# --------------------------------------------------------------------------------------------------

@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _sliding_min_cpu(r, window):
    """m[i] = min(r[i - window + 1 .. i]) with r = 1 before the start (van Herk / Gil-Werman).

    With blocks of ``window`` samples, prefix minima P (forward within a block) and suffix minima S
    (backward within a block) give m[i] = min(S[i - window + 1], P[i]) for every i >= window - 1.
    """
    n = r.shape[0]
    prefix = np.empty(n)
    suffix = np.empty(n)
    nblocks = (n + window - 1) // window
    for b in prange(nblocks):
        lo = b * window
        hi = min(n, lo + window)
        acc = 1.0
        for i in range(lo, hi):
            acc = min(acc, r[i])
            prefix[i] = acc
        acc = 1.0
        for i in range(hi - 1, lo - 1, -1):
            acc = min(acc, r[i])
            suffix[i] = acc
    out = np.empty(n)
    head = min(n, window - 1)
    for i in range(head):
        out[i] = prefix[i]
    for i in prange(head, n):
        out[i] = min(suffix[i - window + 1], prefix[i])
    return out


@njit(cache=True, fastmath=_FASTMATH)
def _limiter_gain_cpu(m, window, c_release):
    """Gain g[i] = mean(e[i - window + 1 .. i]) where e is the release-smoothed minimum (e <= m)."""
    n = m.shape[0]
    g = np.empty(n)
    ring = np.ones(window)
    total = float(window)
    inv = 1.0 / window
    e = 1.0
    slot = 0
    for i in range(n):
        e = _release_step(m[i], e, c_release)
        total += e - ring[slot]
        ring[slot] = e
        slot += 1
        if slot == window:
            slot = 0
        g[i] = total * inv
    return g


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _apply_gain_cpu(x, g, shift):
    n, c = x.shape
    out = np.empty_like(x)
    for i in prange(n):
        gi = g[i + shift]
        for ch in range(c):
            out[i, ch] = x[i, ch] * gi
    return out


def _limiter_params(sample_rate, ceiling_dbtp, lookahead_ms, release_ms):
    fs = check_rate(sample_rate)
    ceiling = 10.0 ** (check_number("ceiling_dbtp", ceiling_dbtp, hi=24.0) / 20.0)
    window = max(1, int(round(check_number("lookahead_ms", lookahead_ms, lo=0.0) * fs / 1000.0)))
    release = check_number("release_ms", release_ms, lo=0.0)
    c_release = -math.expm1(-1.0 / max(release * fs / 1000.0, 1.0))
    return fs, ceiling, window, c_release


def _limit_run(x, ceiling, window, c_release, which, *, max_passes=4):
    """Limit, then re-measure the output's true peak and limit again while it is over the ceiling.

    The gain is computed from the input's true peak, but the output's intersample peaks also depend on how
    fast the gain moves under the interpolator (heavy limiting of dense material overshoots by a few
    thousandths of a dB). The detector therefore aims 0.01 dB under the ceiling, which makes one pass
    enough in practice; further passes run only while the output is still over.
    """
    n = x.shape[0]
    if n == 0:
        return x.copy()
    out = x
    peak = _tp_track(x, which)
    aim = ceiling * _LIMITER_MARGIN
    for _ in range(max_passes):
        if not (peak > ceiling).any():
            break
        out = _limit_pass(out, peak, aim, window, c_release, which)
        peak = _tp_track(out, which)
    return out if out is not x else x.copy()


def _limit_pass(x, peak, ceiling, window, c_release, which):
    n = x.shape[0]
    shift = window - 1
    r = np.ones(n + shift)
    with np.errstate(divide="ignore"):
        r[:n] = np.minimum(1.0, ceiling / peak)
    if which == "reference":
        return _limit_reference(x, r, window, c_release, shift)
    if which == "cpu":
        g = _limiter_gain_cpu(_sliding_min_cpu(r, window), window, c_release)
        return _apply_gain_cpu(x, g, shift)
    return _limit_cuda(x, r, window, c_release, shift)


def _limit_reference(x, r, window, c_release, shift):
    padded = np.concatenate([np.ones(window - 1), r])
    m = np.lib.stride_tricks.sliding_window_view(padded, window).min(axis=1)  # m[i] = min(r[i-window+1 .. i])
    e = np.empty_like(m)
    prev = 1.0
    for i, mi in enumerate(m.tolist()):  # the release recursion is sequential and non-linear
        prev = min(mi, prev + c_release * (mi - prev))
        e[i] = prev
    csum = np.concatenate([np.full(window, 1.0).cumsum(), window + np.cumsum(e)])
    g = (csum[window:] - csum[:-window]) / window
    return (x.astype(np.float64) * g[shift:shift + x.shape[0], None]).astype(x.dtype)


def limit(audio, sample_rate: int, *, ceiling_dbtp: float = -1.0, lookahead_ms: float = 5.0,
          release_ms: float = 80.0, backend="auto") -> np.ndarray:
    """Look-ahead peak limiter that keeps the true peak under ``ceiling_dbtp``; latency is compensated.

    The detector is the 4x-oversampled true-peak track (max over channels, so channels share one gain). The
    gain needed at every frame is brought forward by the look-ahead as a sliding minimum, smoothed by a
    one-pole release and a moving average over the look-ahead window (so gain reduction ramps in over
    ``lookahead_ms`` and reaches the needed value exactly at the peak), then applied to the input.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (n, c), float
    sample_rate : int
        Hz.
    ceiling_dbtp : float
        Ceiling in dBTP (<= 24).
    lookahead_ms, release_ms : float
        >= 0; times shorter than one sample act as one sample.

    Returns
    -------
    ndarray, same shape and float dtype as ``audio``; unchanged where no reduction is needed.
    """
    which = resolve_backend(backend)
    fs, ceiling, window, c_release = _limiter_params(sample_rate, ceiling_dbtp, lookahead_ms, release_ms)
    x, was_1d = _as_audio(audio)
    out = _limit_run(x, ceiling, window, c_release, which)
    return out[:, 0] if was_1d else out


def normalize_loudness(audio, sample_rate: int, *, target_lufs: float = -16.0, ceiling_dbtp: float = -1.0,
                       backend="auto") -> np.ndarray:
    """Gain to ``target_lufs`` integrated loudness, then the look-ahead limiter at ``ceiling_dbtp``.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (n, c), float, at least 0.4 s
    sample_rate : int
        Hz.
    target_lufs : float
        Target integrated loudness (LUFS, <= 0).
    ceiling_dbtp : float
        True-peak ceiling for the limiter.

    Returns
    -------
    ndarray, float32, same shape as ``audio``. Silence (integrated loudness ``-inf``) is returned unchanged.
    The limiter can leave the result slightly below the target when it has to reduce loud peaks.
    """
    which = resolve_backend(backend)
    target = check_number("target_lufs", target_lufs, hi=0.0)
    fs, ceiling, window, c_release = _limiter_params(sample_rate, ceiling_dbtp, 5.0, 80.0)
    x, was_1d = _loudness_input(audio, sample_rate)
    loudness = _loudness_from_hops(_hop_sums(x, fs, which), fs)["integrated_lufs"]
    if not math.isfinite(loudness):
        out = x.astype(np.float32)
    else:
        gained = (x * np.float32(10.0 ** ((target - loudness) / 20.0))).astype(np.float32)
        out = _limit_run(gained, ceiling, window, c_release, which)
    return out[:, 0] if np.ndim(audio) == 1 else out


# --------------------------------------------------------------------------------------------------
# CUDA bodies (numba.cuda, imported lazily)
# --------------------------------------------------------------------------------------------------

cuda = None  # numba.cuda, bound by load_cuda on first use


@lru_cache(maxsize=1)
def _cuda_kernels():
    """Every CUDA kernel of this module by name, compiled once per process.

    ``cuda`` is bound as a module global first (see ``load_cuda``); the kernels come in three groups, one
    factory each: biquad filtering and loudness, crossfeed, and the look-ahead limiter.
    """
    load_cuda(globals())
    return {**_cuda_filter_kernels(), **_cuda_crossfeed_kernels(), **_cuda_limiter_kernels()}


def _cuda_filter_kernels():
    """Biquad cascades and loudness measurement: one thread per channel runs its channel's recursion through
    every sample (the filter state is sequential in time); true peak is per frame, one thread per frame."""
    tp_at = device_function(_tp_at)
    nsec = MAX_CUDA_SECTIONS

    @cuda.jit
    def sos_channels(x, sos, z, out):
        ch = cuda.grid(1)
        if ch < x.shape[1]:
            k = sos.shape[0]
            z0 = cuda.local.array(nsec, np.float64)
            z1 = cuda.local.array(nsec, np.float64)
            for s in range(k):
                z0[s] = z[s, 0, ch]
                z1[s] = z[s, 1, ch]
            for i in range(x.shape[0]):
                v = np.float64(x[i, ch])
                for s in range(k):
                    v, z0[s], z1[s] = _biquad_step(v, sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5],
                                                   z0[s], z1[s])
                out[i, ch] = v
            for s in range(k):
                z[s, 0, ch] = z0[s]
                z[s, 1, ch] = z1[s]

    @cuda.jit
    def kweight_hops(x, sos, fs, nhops, sums):
        ch = cuda.grid(1)
        if ch < x.shape[1]:
            z0 = cuda.local.array(2, np.float64)
            z1 = cuda.local.array(2, np.float64)
            z0[0] = z0[1] = z1[0] = z1[1] = 0.0
            h = 0
            boundary = fs // 10
            acc = 0.0
            for i in range(x.shape[0]):
                v = np.float64(x[i, ch])
                for s in range(2):
                    v, z0[s], z1[s] = _biquad_step(v, sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5],
                                                   z0[s], z1[s])
                if i == boundary:
                    if h < nhops:
                        sums[h, ch] = acc
                    h += 1
                    acc = 0.0
                    boundary = ((h + 1) * fs) // 10
                acc += v * v
            if x.shape[0] == boundary and h < nhops:
                sums[h, ch] = acc

    @cuda.jit
    def tp_track(x, h, out):
        i = cuda.grid(1)
        if i < x.shape[0]:
            best = 0.0
            for ch in range(x.shape[1]):
                v = tp_at(x, i, ch, h)
                if v > best:
                    best = v
            out[i] = best

    return dict(sos_channels=sos_channels, kweight_hops=kweight_hops, tp_track=tp_track)


def _cuda_crossfeed_kernels():
    """Headphone crossfeed: one thread per output channel mixes in the other channel, delayed and low-passed
    (a one-pole section run through ``_biquad_step``), continuing from the previous block's history and state."""

    @cuda.jit
    def crossfeed_channels(x, history, delay, b0, a1, strength, z, out):
        ch = cuda.grid(1)
        if ch < 2:
            other = 1 - ch
            norm = 1.0 / (1.0 + strength)
            z0 = z[ch]
            for i in range(x.shape[0]):
                j = i - delay
                d = np.float64(x[j, other]) if j >= 0 else np.float64(history[delay + j, other])
                y, z0, _ = _biquad_step(d, b0, b0, 0.0, a1, 0.0, z0, 0.0)
                out[i, ch] = _crossfeed_out(np.float64(x[i, ch]), y, strength, norm)
            z[ch] = z0

    return dict(crossfeed_channels=crossfeed_channels)


def _cuda_limiter_kernels():
    """The look-ahead peak limiter: the minimum required gain over the look-ahead window (one thread per
    frame), the release recursion smoothed by a moving average over the window (sequential, one thread), and
    the delayed gain applied (one thread per frame)."""

    @cuda.jit
    def sliding_min(r, window, out):
        i = cuda.grid(1)  # window is the look-ahead (a few hundred samples): a direct minimum per frame
        if i < r.shape[0]:
            best = 1.0
            j0 = i - window + 1
            if j0 < 0:
                j0 = 0
            for j in range(j0, i + 1):
                if r[j] < best:
                    best = r[j]
            out[i] = best

    @cuda.jit
    def limiter_gain(m, window, c_release, ring, g):
        if cuda.grid(1) == 0:  # sequential recursion: one thread
            total = float(window)
            e = 1.0
            for i in range(m.shape[0]):
                e = _release_step(m[i], e, c_release)
                slot = i % window
                total += e - ring[slot]
                ring[slot] = e
                g[i] = total / window

    @cuda.jit
    def apply_gain(x, g, shift, out):
        i = cuda.grid(1)
        if i < x.shape[0]:
            for ch in range(x.shape[1]):
                out[i, ch] = x[i, ch] * g[i + shift]

    return dict(sliding_min=sliding_min, limiter_gain=limiter_gain, apply_gain=apply_gain)


def _sos_cuda(x, sos, zi):
    k = _cuda_kernels()
    if sos.shape[0] > MAX_CUDA_SECTIONS:
        raise ValueError(f"the CUDA biquad body supports up to {MAX_CUDA_SECTIONS} sections; got {sos.shape[0]} "
                         f"(use backend='cpu')")
    d_z = cuda.to_device(zi.copy())
    d_out = cuda.device_array(x.shape, dtype=x.dtype)
    if x.shape[0]:
        k["sos_channels"][grid_1d(x.shape[1])](cuda.to_device(x), cuda.to_device(sos), d_z, d_out)
        return d_out.copy_to_host(), d_z.copy_to_host()
    return x.copy(), zi.copy()


def _kweight_hops_cuda(x, fs, nhops):
    k = _cuda_kernels()
    d_sums = cuda.to_device(np.zeros((max(nhops, 1), x.shape[1])))
    k["kweight_hops"][grid_1d(x.shape[1])](cuda.to_device(x), cuda.to_device(k_weighting_sos(fs)), fs, nhops,
                                           d_sums)
    return d_sums.copy_to_host()[:nhops]


def _tp_track_cuda(x):
    k = _cuda_kernels()
    d_out = cuda.device_array(max(x.shape[0], 1), dtype=np.float64)
    k["tp_track"][grid_1d(x.shape[0])](cuda.to_device(x), cuda.to_device(_tp_phases()), d_out)
    return d_out.copy_to_host()[:x.shape[0]]


def _crossfeed_cuda(x, history, delay, b0, a1, strength, zi):
    k = _cuda_kernels()
    if x.shape[0] == 0:
        return x.copy(), zi.copy()
    d_z = cuda.to_device(zi.copy())
    d_out = cuda.device_array(x.shape, dtype=x.dtype)
    hist = history if history.shape[0] else np.zeros((1, 2), x.dtype)
    k["crossfeed_channels"][grid_1d(2)](cuda.to_device(x), cuda.to_device(hist), delay, b0, a1, strength, d_z, d_out)
    return d_out.copy_to_host(), d_z.copy_to_host()


def _limit_cuda(x, r, window, c_release, shift):
    k = _cuda_kernels()
    d_r = cuda.to_device(r)
    d_m = cuda.device_array(r.shape[0], dtype=np.float64)
    k["sliding_min"][grid_1d(r.shape[0])](d_r, window, d_m)
    d_g = cuda.device_array(r.shape[0], dtype=np.float64)
    k["limiter_gain"][1, 1](d_m, window, c_release, cuda.to_device(np.ones(window)), d_g)
    d_out = cuda.device_array(x.shape, dtype=x.dtype)
    k["apply_gain"][grid_1d(x.shape[0])](cuda.to_device(x), d_g, shift, d_out)
    return d_out.copy_to_host()
