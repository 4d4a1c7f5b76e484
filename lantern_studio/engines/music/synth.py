"""Instrument synthesis: every part of a score becomes a mono signal, then a panned stereo stem with a
little reverb. All of it is vectorised numpy on float32.

How each instrument is made (and why it sounds like itself):

- guzheng, pipa: Karplus-Strong plucked strings. The delay-line recurrence ``y[n] = g((1-b) y[n-N] + b y[n-N-1])``
  only looks back at least ``N`` samples, so it is computed one period (``N`` samples) at a time with numpy:
  no per-sample Python loop and no numba compile. Each pitch is rendered once per take and cached, then
  resampled to the exact frequency (the integer delay alone would be up to ~20 cents off at high notes).
  Slides (按滑) re-read the cached pluck along a gliding pitch curve; tremolo (摇指/轮指) re-plucks 14-16
  times a second, each pluck damping the last. The guzheng rings on; the pipa is brighter and shorter.
- dizi, suona, erhu: additive synthesis of a continuous line (one phase for the whole legato line, so
  slides and portamento are real glides). Harmonics come from the Chebyshev recurrence
  ``sin(k p) = 2 cos(p) sin((k-1) p) - sin((k-2) p)``: one ``sin``/``cos`` pair per line, not one per harmonic.
  Dizi: soft odd-leaning spectrum, breath noise, delayed vibrato, the membrane (笛膜) buzz as faint high
  partials. Suona: bright, nasal 1/k^0.6 spectrum through two formants, scoops into accented notes. Erhu:
  bowed sawtooth-like spectrum through body resonances, portamento between distant notes, wide vibrato.
- big drum: a low membrane mode with a falling pitch, a second mode and a felt thump.
- gongs: inharmonic partials; the big gong (大锣) glides down and blooms, the small gong (小锣) glides up.
- cymbals (铙钹) and firecrackers: shaped noise; firecrackers are Poisson bursts of cracks across the stereo field.
- reverb: one synthetic room (decaying noise) convolved at an eighth of the sample rate (a hall's tail is dark
  anyway: nothing above ~2.5 kHz)

Two small numba kernels (``_additive``, ``_pan_and_upsample``) fuse what numpy would do in a dozen full-length
passes with a temporary array each (harmonic sums; pan plus reverb upsampling): on the 2-core machine those
passes, not the arithmetic, were most of a minute's render. They compile once and are cached on disk., which keeps a 60 s stem's reverb to a few milliseconds.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from scipy import ndimage, signal

from lantern_studio.engines.music.arrange import (BIG_GONG, CYMBAL_DAMPED, CYMBAL_OPEN, DRUM_CENTER, DRUM_RIM,
                                   SMALL_GONG)
from lantern_studio.engines.music.score import Note, Part, Score

INSTRUMENTS = ("guzheng", "pipa", "dizi", "suona", "erhu", "big_drum", "gongs", "cymbals", "firecrackers")
PLUCKED = ("guzheng", "pipa")
SUSTAINED = ("dizi", "suona", "erhu")
PERCUSSION = ("big_drum", "gongs", "cymbals", "firecrackers")
TAIL_S = 2.5
TWO_PI = 2.0 * np.pi


def midi_hz(midi: float | np.ndarray) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *[int(k) & 0xFFFFFFFF for k in key]])


# --------------------------------------------------------------------------------------------
# plucked strings
# --------------------------------------------------------------------------------------------

PLUCK = {  # t60 at 220 Hz (s), lowpass blend b, excitation brightness, pluck position, ring after release (s)
    "guzheng": dict(t60_s=3.2, blend=0.32, bright=0.75, position=0.18, ring_s=1.4, length_s=3.5),
    "pipa": dict(t60_s=1.1, blend=0.22, bright=0.9, position=0.12, ring_s=0.35, length_s=1.8),
}


def karplus_strong(freq_hz: float, *, sample_rate: int, length_s: float, t60_s: float, blend: float,
                   bright: float, position: float, rng: np.random.Generator) -> np.ndarray:
    """(n,) float32 plucked-string tone at ``freq_hz``, peak 1, n = ``length_s`` x ``sample_rate``.

    ``t60_s``: decay time at 220 Hz (higher strings ring shorter); ``blend``: the loop lowpass (0.5 is the
    classic average; lower is brighter); ``bright``: excitation brightness (0-1); ``position``: pluck point
    along the string (0-0.5), which notches the partials it sits on. Computed a period at a time, then
    resampled to the exact pitch.
    """
    period = sample_rate / freq_hz
    n_delay = max(2, int(period - blend))
    actual_hz = sample_rate / (n_delay + blend)
    n_out = int(length_s * sample_rate)
    n_int = int(n_out * freq_hz / actual_hz) + n_delay + 2
    blocks = n_int // n_delay + 2
    # excitation: one-pole lowpassed noise, combed for the pluck position
    noise = rng.uniform(-1.0, 1.0, n_delay)
    exc = signal.lfilter([bright], [1.0, -(1.0 - bright)], noise)
    shift = max(1, int(position * n_delay))
    exc = exc - np.roll(exc, shift)
    exc -= exc.mean()
    t60 = t60_s * (220.0 / freq_hz) ** 0.35
    g = 10.0 ** (-3.0 * n_delay / (sample_rate * t60))
    buf = np.zeros(1 + blocks * n_delay)
    buf[1:1 + n_delay] = exc
    a, b = g * (1.0 - blend), g * blend
    for k in range(1, blocks):
        lo = 1 + k * n_delay
        buf[lo:lo + n_delay] = a * buf[lo - n_delay:lo] + b * buf[lo - n_delay - 1:lo - 1]
    y = buf[1:]
    pos = np.arange(n_out) * (freq_hz / actual_hz)
    out = np.interp(pos, np.arange(len(y)), y)
    out *= 1.0 / (np.max(np.abs(out)) + 1e-12)
    return out.astype(np.float32)


def _read_gliding(table: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Read ``table`` at a varying speed (``ratio`` per output sample; 1 = as recorded)."""
    pos = np.cumsum(ratio, dtype=np.float64) - ratio[0]
    pos = pos[pos < len(table) - 1]
    return np.interp(pos, np.arange(len(table)), table).astype(np.float32)


#: plucks and percussion hits are the same instrument in every take: rendered once per process
_SAMPLES: dict[tuple, np.ndarray] = {}
_SAMPLES_LIMIT = 512


class Synth:
    """Renders parts of one score. Plucked notes and percussion hits come from per-instrument samples that
    do not depend on the take (a guzheng string is the same string in every take), cached per process;
    everything that varies between takes (breath, bow noise, firecracker bursts, timing) uses ``seed``."""

    def __init__(self, *, sample_rate: int, seed: int):
        self.sample_rate = sample_rate
        self.seed = int(seed)
        if len(_SAMPLES) > _SAMPLES_LIMIT:
            _SAMPLES.clear()
        self._cache = _SAMPLES

    # --------------------------------------------------------------------------------------------
    def pluck(self, instrument: str, midi: int) -> np.ndarray:
        key = (instrument, midi, self.sample_rate)
        sample = self._cache.get(key)          # one lookup: another take's thread may clear the cache
        if sample is None:
            p = PLUCK[instrument]
            sample = karplus_strong(float(midi_hz(midi)), sample_rate=self.sample_rate, length_s=p["length_s"],
                                    t60_s=p["t60_s"], blend=p["blend"], bright=p["bright"],
                                    position=p["position"], rng=_rng(11, midi, len(instrument)))
            self._cache[key] = sample
        return sample

    def render_plucked(self, part: Part, score: Score, n: int) -> np.ndarray:
        sr = self.sample_rate
        out = np.zeros(n, dtype=np.float32)
        p = PLUCK[part.instrument]
        starts = score.seconds([x.start_beat for x in part.notes]) if part.notes else []
        ends = score.seconds([x.end_beat for x in part.notes]) if part.notes else []
        fade = np.linspace(1.0, 0.0, int(0.03 * sr), dtype=np.float32)
        for note, t0, t1 in zip(part.notes, starts, ends):
            gain = (note.velocity / 127.0) ** 1.5
            s0 = int(round(t0 * sr))
            if note.ornament == "tremolo":
                rate = 15.0 if part.instrument == "pipa" else 13.0
                table = self.pluck(part.instrument, note.midi)
                step = int(sr / rate)
                count = max(1, int((t1 - t0) * rate))
                seg = table[:step + len(fade)].copy()
                seg[-len(fade):] *= fade
                for k in range(count):
                    last = k == count - 1
                    piece = table[:int(min(len(table), p["ring_s"] * sr + step))] if last else seg
                    accent = 1.0 if k % 2 == 0 else 0.72
                    _add(out, s0 + k * step, piece * (gain * accent * (0.8 if k else 1.0)))
                continue
            if note.ornament == "grace" and note.grace_midi is not None:
                g = self.pluck(part.instrument, note.grace_midi)[:int(0.07 * sr)].copy()
                g[-len(fade) // 2:] *= fade[::2][:len(g[-len(fade) // 2:])]
                _add(out, s0 - len(g), g * gain * 0.6)
            table = self.pluck(part.instrument, note.midi)
            length = int(min(len(table), (t1 - t0 + p["ring_s"]) * sr))
            if note.ornament == "slide" and note.grace_midi is not None:
                # 按滑: start on the lower note's pitch and press up to the written one
                ratio = np.ones(length + 64)
                glide = int(0.12 * sr)
                ratio[:glide] = 2.0 ** ((note.grace_midi - note.midi) / 12.0 * (1.0 - np.linspace(0, 1, glide) ** 2))
                piece = _read_gliding(table, ratio)[:length].copy()
            else:
                piece = table[:length].copy()
            piece[-len(fade):] *= fade[-len(piece):] if len(piece) < len(fade) else fade
            _add(out, s0, piece * gain)
        return out

    # --------------------------------------------------------------------------------------------
    def render_sustained(self, part: Part, score: Score, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.float32)
        for voice in _voices(part.notes):
            self._render_line(out, voice, part.instrument, score, legato=part.role == "melody")
        return out

    def _render_line(self, out: np.ndarray, notes: list[Note], instrument: str, score: Score, *,
                     legato: bool) -> None:
        """Add one continuous line of a sustained instrument into ``out`` (float32, mono, samples)."""
        sr = self.sample_rate
        if not notes:
            return
        starts = score.seconds([x.start_beat for x in notes])
        ends = score.seconds([x.end_beat for x in notes])
        release = _RELEASE_S[instrument]
        # 80 ms of lead-in before the first note (its pitch is set there) and the release plus 50 ms after the last
        first = max(0, int(starts[0] * sr) - int(0.08 * sr))
        last = min(len(out), int(ends[-1] * sr) + int((release + 0.05) * sr))
        m = last - first
        if m <= 0:
            return
        semis, amp, since = _line_curves(notes, starts, ends, first, m, sr, instrument, legato=legato)
        # smooth every envelope step (tongued/bowed joins, velocity changes) over ~4 ms: no clicks
        amp = ndimage.uniform_filter1d(amp, size=int(0.004 * sr) | 1, mode="constant")
        rng = _rng(self.seed, 21, len(notes), int(starts[0] * 1000))
        acc, weights = _line_tone(semis, since, first, sr, instrument, rng)
        acc *= amp
        out[first:last] += acc / max(1e-6, float(np.sum(np.abs(weights))) * 0.5)

    # --------------------------------------------------------------------------------------------
    def hit(self, key: int, variant: int) -> np.ndarray:
        cache_key = ("hit", key, variant, self.sample_rate)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        sr = self.sample_rate
        rng = _rng(31, key, variant)
        if key in (DRUM_CENTER, DRUM_RIM):
            length = 1.2 if key == DRUM_CENTER else 0.35
            t = np.arange(int(length * sr)) / sr
            f0 = (62.0 if key == DRUM_CENTER else 150.0) * (1.0 + 0.02 * (variant - 1))
            f = f0 * (1.0 + 0.7 * np.exp(-t / 0.03))
            ph = np.cumsum(f) * TWO_PI / sr
            decay = 0.38 if key == DRUM_CENTER else 0.08
            body = np.sin(ph) * np.exp(-t / decay) + 0.35 * np.sin(1.59 * ph + 0.3) * np.exp(-t / (decay * 0.5))
            thump = signal.lfilter(*signal.butter(2, 1200 / (sr / 2)), rng.standard_normal(len(t))) * np.exp(-t / 0.012)
            y = body + (0.8 if key == DRUM_CENTER else 1.5) * thump
        elif key in (BIG_GONG, SMALL_GONG):
            big = key == BIG_GONG
            length = 3.0 if big else 1.3
            t = np.arange(int(length * sr)) / sr
            f0 = (92.0 if big else 620.0) * (1.0 + 0.01 * (variant - 1))
            ratios = (1.0, 1.53, 2.08, 2.57, 3.11, 3.67, 4.26, 5.13) if big else (1.0, 1.46, 2.38, 3.71)
            glide = 1.0 - 0.045 * (1.0 - np.exp(-t / 0.9)) if big else 1.0 + 0.09 * (1.0 - np.exp(-t / 0.1))
            y = np.zeros_like(t)
            base = np.cumsum(f0 * glide) * TWO_PI / sr
            for k, r in enumerate(ratios):
                ph = r * base + rng.uniform(0, TWO_PI)
                t60 = (2.4 if big else 1.0) / (1.0 + 0.35 * k)
                bloom = (1.0 - np.exp(-t / (0.04 + 0.05 * k))) if big and k >= 2 else 1.0
                y += (0.85 ** k) * np.sin(ph) * np.exp(-t * 6.9 / t60) * bloom
            crash = signal.lfilter(*signal.butter(2, 2500 / (sr / 2), "high"), rng.standard_normal(len(t)))
            y += (0.25 if big else 0.12) * crash * np.exp(-t / 0.05)
        elif key in (CYMBAL_OPEN, CYMBAL_DAMPED):
            length = 1.6 if key == CYMBAL_OPEN else 0.25
            t = np.arange(int(length * sr)) / sr
            noise = rng.standard_normal(len(t))
            hi = signal.lfilter(*signal.butter(2, 3200 / (sr / 2), "high"), noise)
            ring = signal.lfilter(*signal.butter(2, [4800 / (sr / 2), 7400 / (sr / 2)], "band"), noise)
            decay = 0.42 if key == CYMBAL_OPEN else 0.045
            y = (hi + 1.4 * ring) * (np.exp(-t / decay) + 0.6 * np.exp(-t / 0.012))
        else:
            raise ValueError(f"no percussion sound for MIDI key {key}")
        y = (y / (np.max(np.abs(y)) + 1e-12)).astype(np.float32)
        self._cache[cache_key] = y
        return y

    def render_percussion(self, part: Part, score: Score, n: int) -> np.ndarray:
        sr = self.sample_rate
        out = np.zeros(n, dtype=np.float32)
        if not part.notes:
            return out
        starts = score.seconds([x.start_beat for x in part.notes])
        jitter = _rng(self.seed, 41, len(part.name)).normal(0.0, 0.003, len(part.notes))
        for i, (note, t0) in enumerate(zip(part.notes, starts)):
            sample = self.hit(note.midi, i % 2)
            gain = (note.velocity / 127.0) ** 1.6
            _add(out, int(round((t0 + jitter[i]) * sr)), sample * gain)
        return out

    def render_firecrackers(self, part: Part, score: Score, n: int) -> np.ndarray:
        """(n, 2) float32: bursts of cracks scattered across the stereo field."""
        sr = self.sample_rate
        out = np.zeros((n, 2), dtype=np.float32)
        crack_len = int(0.012 * sr)
        tc = np.arange(crack_len) / sr
        shape = np.exp(-tc / 0.0025).astype(np.float32)
        for i, note in enumerate(part.notes):
            rng = _rng(self.seed, 51, i)
            t0, t1 = score.seconds([note.start_beat, note.end_beat])
            span = max(0.2, t1 - t0)
            count = rng.poisson(38.0 * span)
            times = t0 + span * np.sort(rng.beta(1.2, 2.2, count))
            gains = (note.velocity / 127.0) * rng.uniform(0.25, 1.0, count) * (1.0 - 0.6 * (times - t0) / span)
            pans = rng.uniform(-0.8, 0.8, count)
            for t, g, p in zip(times, gains, pans):
                crack = rng.standard_normal(crack_len).astype(np.float32) * shape * np.float32(g)
                s0 = int(t * sr)
                if s0 + crack_len > n:
                    continue
                out[s0:s0 + crack_len, 0] += crack * np.float32(np.cos((p + 1) * np.pi / 4))
                out[s0:s0 + crack_len, 1] += crack * np.float32(np.sin((p + 1) * np.pi / 4))
        return out

    # --------------------------------------------------------------------------------------------
    def render_part(self, part: Part, score: Score, n: int) -> np.ndarray:
        """The dry signal of one part: (n,) float32, or (n, 2) for firecrackers."""
        if part.instrument in PLUCKED:
            return self.render_plucked(part, score, n)
        if part.instrument in SUSTAINED:
            return self.render_sustained(part, score, n)
        if part.instrument == "firecrackers":
            return self.render_firecrackers(part, score, n)
        if part.instrument in ("big_drum", "gongs", "cymbals"):
            return self.render_percussion(part, score, n)
        raise ValueError(f"instrument {part.instrument!r} is not one of {', '.join(INSTRUMENTS)}")


_RELEASE_S = {"dizi": 0.06, "suona": 0.05, "erhu": 0.12}
_ATTACK_S = {"dizi": 0.035, "suona": 0.02, "erhu": 0.07}
_VIBRATO = {"dizi": (5.4, 0.25, 0.25), "suona": (5.0, 0.25, 0.2), "erhu": (6.0, 0.35, 0.15)}  # Hz, semitones, delay s


def _line_curves(notes: list[Note], starts: np.ndarray, ends: np.ndarray, first: int, m: int, sr: int,
                 instrument: str, *, legato: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample curves of a sustained line, ``m`` samples from sample ``first`` of the part.

    Returns ``semis`` (float64 MIDI pitch, ornaments included), ``amp`` (float32 envelope, unsmoothed) and
    ``since`` (float32 seconds since the current note began, which delays the vibrato). Legato notes that
    meet within 10 ms join: no release between them, a short dip for the tongue or bow change instead, and
    the next note attacks from 0.55 rather than from silence.
    """
    release, attack = _RELEASE_S[instrument], _ATTACK_S[instrument]
    semis = np.zeros(m, dtype=np.float64)
    amp = np.zeros(m, dtype=np.float32)
    since = np.zeros(m, dtype=np.float32)
    joined_prev = False          # the previous note ran straight into this one (legato)
    for i, (note, t0, t1) in enumerate(zip(notes, starts, ends)):
        a = int(t0 * sr) - first
        b = min(m, int(t1 * sr) - first)
        nxt_a = int(starts[i + 1] * sr) - first if i + 1 < len(notes) else m
        joined = legato and abs(nxt_a - b) < sr * 0.01
        tail_end = b if joined else min(m, b + int(release * sr))
        if i == 0 or not (legato and abs(a - (int(ends[i - 1] * sr) - first)) < sr * 0.01):
            semis[max(0, a - int(0.08 * sr)):a] = note.midi
        semis[a:max(tail_end, nxt_a if joined else tail_end)] = note.midi
        length = b - a
        if length <= 0:
            continue
        since[a:tail_end] = np.arange(tail_end - a, dtype=np.float32) / sr
        level = (note.velocity / 127.0) ** 1.2
        env = np.full(tail_end - a, level, dtype=np.float32)
        att = min(int(attack * sr), length)
        env[:att] *= np.linspace(0.55 if joined_prev else 0.0, 1.0, att, dtype=np.float32)
        if not joined:
            rel = tail_end - b
            if rel > 0:
                env[length:] *= np.linspace(1.0, 0.0, rel, dtype=np.float32)
        else:
            # articulation between legato notes: a tongue (winds) or a bow change (erhu)
            dip = min(int(0.018 * sr), length // 3)
            env[length - dip:length] *= np.linspace(1.0, 0.45, dip, dtype=np.float32)
        amp[a:tail_end] = np.maximum(amp[a:tail_end], env)
        _ornament_pitch(semis, a, length, sr, note, notes[i - 1] if i else None, instrument, joined_prev=joined_prev)
        joined_prev = joined
    return semis, amp, since


def _ornament_pitch(semis: np.ndarray, a: int, length: int, sr: int, note: Note, previous: Note | None,
                    instrument: str, *, joined_prev: bool) -> None:
    """Write a note's ornament or idiom into the pitch curve ``semis`` from sample ``a``.

    A slide glides from the grace pitch over 110 ms; a grace note sits on its pitch for 55 ms; an erhu joined
    to a note 3+ semitones away slides from it over 70 ms (portamento); a loud, long suona note scoops up a
    semitone over 50 ms. Glides follow ``w = x**0.7`` for ``x`` from 0 to 1: fast at first, settling onto the
    pitch. No ornament lasts more than half the note.
    """
    glide = None
    if note.ornament == "slide" and note.grace_midi is not None:
        glide = (note.grace_midi, 0.11)
    elif note.ornament == "grace" and note.grace_midi is not None:
        g = min(int(0.055 * sr), length // 2)
        semis[a:a + g] = note.grace_midi
    elif instrument == "erhu" and joined_prev and abs(note.midi - previous.midi) >= 3:
        glide = (previous.midi, 0.07)
    elif instrument == "suona" and note.velocity >= 92 and length > int(0.15 * sr):
        glide = (note.midi - 1.0, 0.05)
    if glide is not None:
        g = min(int(glide[1] * sr), length // 2)
        w = np.linspace(0.0, 1.0, g) ** 0.7
        semis[a:a + g] = glide[0] + (note.midi - glide[0]) * w


def _line_tone(semis: np.ndarray, since: np.ndarray, first: int, sr: int, instrument: str,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The line's raw tone (float32, unit envelope) and the harmonic weights it was summed with.

    Pitch is ``440 * 2**((semis + vibrato - 69) / 12)`` Hz; the vibrato fades in over 0.3 s after its delay.
    Then the instrument's colour: breath noise band-passed at 1.8-7 kHz (dizi), body resonances plus bow
    noise above 3 kHz (erhu), two nasal formants (suona).
    """
    m = len(semis)
    t = (np.arange(m) + first) / sr
    vib_rate, vib_depth, vib_delay = _VIBRATO[instrument]
    vib = vib_depth * np.sin((TWO_PI * vib_rate) * t).astype(np.float32) * np.clip((since - vib_delay) / 0.3, 0.0, 1.0)
    freq = 440.0 * np.exp2((semis.astype(np.float32) + vib - np.float32(69.0)) / np.float32(12.0))
    # the running phase needs float64 (it reaches ~1e5 rad in a minute); wrapped, float32 is exact enough
    phase = (np.cumsum(freq, dtype=np.float64) * (TWO_PI / sr)) % TWO_PI
    phase = phase.astype(np.float32)
    weights = _harmonics(instrument, float(freq.max()), sr)
    acc = np.empty(m, dtype=np.float32)
    _additive(phase, weights, acc)
    if instrument == "dizi":
        breath = signal.lfilter(*signal.butter(2, [1800 / (sr / 2), 7000 / (sr / 2)], "band"),
                                rng.standard_normal(m)).astype(np.float32)
        acc += 0.08 * breath
    elif instrument == "erhu":
        acc = _filter_peaks(acc, sr, ((750.0, 4.0, 2.0), (2600.0, 3.0, 1.5)))
        acc += 0.06 * signal.lfilter(*signal.butter(2, 3000 / (sr / 2), "high"),
                                     rng.standard_normal(m)).astype(np.float32)
    elif instrument == "suona":
        acc = _filter_peaks(acc, sr, ((1300.0, 6.0, 1.2), (3100.0, 4.0, 1.5)))
    return acc, weights


def _voices(notes: list[Note]) -> list[list[Note]]:
    """Split overlapping notes into monophonic voices (first free voice, lowest voice first)."""
    voices: list[list[Note]] = []
    for note in sorted(notes, key=lambda x: (x.start_beat, x.midi)):
        for voice in voices:
            if voice[-1].end_beat <= note.start_beat + 1e-9:
                voice.append(note)
                break
        else:
            voices.append([note])
    return voices


@njit(parallel=True, cache=True)
def _additive(phase, weights, out):
    """out[i] = sum_k weights[k] sin((k + 1) phase[i]), harmonics by the Chebyshev recurrence
    sin(k p) = 2 cos(p) sin((k - 1) p) - sin((k - 2) p): one sin and one cos per sample, one pass."""
    for i in prange(phase.shape[0]):
        s1 = math.sin(phase[i])
        c2 = 2.0 * math.cos(phase[i])
        acc = weights[0] * s1
        p2 = 0.0
        p1 = s1
        for k in range(1, weights.shape[0]):
            cur = c2 * p1 - p2
            acc += weights[k] * cur
            p2 = p1
            p1 = cur
        out[i] = acc


@njit(parallel=True, cache=True)
def _pan_and_upsample(dry, left, right, wet, decimation, out):
    """out[i] = (dry[i] * left, dry[i] * right) + wet linearly interpolated from 1/decimation of the rate.

    One pass over the output instead of numpy's pan, then d strided passes for the reverb."""
    n = dry.shape[0]
    m = wet.shape[0]
    for i in prange(n):
        j = i // decimation
        f = (i - j * decimation) / decimation
        w0 = 0.0
        w1 = 0.0
        if j < m:
            nxt = j + 1 if j + 1 < m else j
            w0 = wet[j, 0] + (wet[nxt, 0] - wet[j, 0]) * f
            w1 = wet[j, 1] + (wet[nxt, 1] - wet[j, 1]) * f
        out[i, 0] = dry[i] * left + w0
        out[i, 1] = dry[i] * right + w1


def _harmonics(instrument: str, fmax_hz: float, sample_rate: int) -> np.ndarray:
    limit = max(1, int(0.45 * sample_rate / fmax_hz))
    if instrument == "dizi":
        w = [1.0, 0.42, 0.22, 0.12, 0.07, 0.05, 0.035, 0.03, 0.025, 0.02, 0.02, 0.015]
    elif instrument == "suona":
        w = [1.0 / (k ** 0.6) for k in range(1, 15)]
    else:  # erhu
        w = [1.0 / k * (1.0 + 0.3 * (k % 2 == 0)) for k in range(1, 15)]
    return np.array(w[:limit], dtype=np.float32)


def _filter_peaks(x: np.ndarray, sample_rate: int, peaks) -> np.ndarray:
    """Add resonant peaks (centre Hz, gain dB, Q) with RBJ peaking biquads (float32 second-order sections)."""
    sections = []
    for f0, gain_db, q in peaks:
        A = 10 ** (gain_db / 40.0)
        w0 = TWO_PI * f0 / sample_rate
        alpha = np.sin(w0) / (2 * q)
        b = np.array([1 + alpha * A, -2 * np.cos(w0), 1 - alpha * A])
        a = np.array([1 + alpha / A, -2 * np.cos(w0), 1 - alpha / A])
        sections.append(np.concatenate([b / a[0], a / a[0]]))
    return signal.sosfilt(np.array(sections, dtype=np.float32), x.astype(np.float32))


def _add(out: np.ndarray, start: int, piece: np.ndarray) -> None:
    if start >= len(out) or len(piece) == 0:
        return
    if start < 0:
        piece = piece[-start:]
        start = 0
    end = min(len(out), start + len(piece))
    out[start:end] += piece[:end - start]


# --------------------------------------------------------------------------------------------
# placement: pan and reverb
# --------------------------------------------------------------------------------------------

_ROOM: dict[int, np.ndarray] = {}
REVERB_DECIMATION = 8


def room_response(sample_rate: int) -> np.ndarray:
    """(m, 2) float32: a small hall's impulse response at ``sample_rate / 8`` (fixed, the same every take)."""
    if sample_rate not in _ROOM:
        rate = sample_rate // REVERB_DECIMATION
        rng = np.random.default_rng(20260125)
        t = np.arange(int(1.6 * rate)) / rate
        env = np.exp(-t * 6.9 / 1.5) * (1.0 - np.exp(-t / 0.008))
        ir = rng.standard_normal((len(t), 2)) * env[:, None]
        ir = signal.lfilter(*signal.butter(1, 0.8), ir, axis=0)
        ir /= np.sqrt(np.sum(ir ** 2, axis=0, keepdims=True))
        _ROOM[sample_rate] = ir.astype(np.float32)
    return _ROOM[sample_rate]


def place(dry: np.ndarray, *, pan: float, reverb: float, sample_rate: int) -> np.ndarray:
    """(n, 2) float32: ``dry`` (n,) panned with constant power (pan -1 left .. 1 right) plus reverb.

    ``reverb`` is the send level (0..1). A stereo ``dry`` (n, 2) keeps its own placement.
    """
    n = dry.shape[0]
    mono = dry if dry.ndim == 1 else (0.5 * (dry[:, 0] + dry[:, 1])).astype(np.float32)
    d = REVERB_DECIMATION
    m = n // d
    if reverb > 0 and m > 0:
        low = mono[0:m * d:d].copy()
        for k in range(1, d):
            low += mono[k:m * d:d]
        low *= np.float32(reverb / d)
        wet = signal.oaconvolve(low[:, None], room_response(sample_rate), axes=0)[:m].astype(np.float32)
    else:
        wet = np.zeros((0, 2), dtype=np.float32)
    out = np.empty((n, 2), dtype=np.float32)
    if dry.ndim == 1:
        angle = (float(pan) + 1.0) * np.pi / 4.0
        _pan_and_upsample(np.ascontiguousarray(dry, dtype=np.float32), np.float32(np.cos(angle)),
                          np.float32(np.sin(angle)), wet, d, out)
    else:
        _pan_and_upsample(np.zeros(n, dtype=np.float32), np.float32(0.0), np.float32(0.0), wet, d, out)
        out += dry
    return out
