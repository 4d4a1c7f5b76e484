"""The symbolic score: form, phrases and a melody developed from one motif.

A piece is an optional percussion intro followed by one or more cycles of a form. The default form is
起承转合 (statement, continuation, turn, close); AABA and a verse-chorus loop are the others. Each phrase is
built from four-beat *units* (one bar of 4/4, two bars of 2/4). Every unit is one development of the motif:

====  =========================================================================
op    what it does
====  =========================================================================
M     the motif as generated
R     the motif with its rhythm regrouped (a note split or two notes merged)
S     the motif in sequence: transposed by scale steps *within the mode*
D     diminution: the motif at double speed, twice, the second a step lower
A     augmentation: the motif's first half at half speed
F     a free stepwise continuation in the motif's rhythm vocabulary
C     a cadence: a stepwise approach and a long note on the phrase's goal
====  =========================================================================

Cadence goals: 起 ends on step 3 (the mode's "dominant"), 承 and 合 on the final, 转 on step 1 or 2 (open,
unresolved); AABA ends A on the final (the first A on step 3) and B on step 3; verse on step 3, chorus on the
final. The last phrase of the piece always closes on the final. Melody steps are scale steps (see
:mod:`engines.music.theory`), so every written pitch is in the mode; 清角/变宫 only appear as notes marked
``passing``. Ornaments (grace notes, slides, tremolo) are marks on notes; their pitches are in the mode too.

All randomness comes from named streams (``motif``, ``development``, ``rhythm``, ``ornament``, ``harmony``,
``percussion``, ``sound``), each seeded from the recipe, so a variation can re-seed one stream and leave the
others -- and the parts of the tune they decide -- exactly as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from lantern_studio.engines.music.theory import Scale

UNIT_BEATS = 4
FORMS: dict[str, tuple[str, ...]] = {
    "qichengzhuanhe": ("起", "承", "转", "合"),
    "aaba": ("A", "A", "B", "A"),
    "verse-chorus": ("verse", "chorus"),
}
FORM_NAMES = {"qichengzhuanhe": "起承转合 (statement, continuation, turn, close)", "aaba": "AABA",
              "verse-chorus": "verse-chorus loop"}
STREAMS = ("motif", "development", "rhythm", "ornament", "harmony", "percussion", "sound")

# phrase label -> (first op, pool of middle ops, register offset in steps, cadence goal steps)
PHRASE_PLANS: dict[str, tuple[str, tuple[str, ...], int, tuple[int, ...]]] = {
    "起": ("M", ("R", "S", "M"), 0, (3,)),
    "承": ("M", ("S", "F", "R"), 0, (0,)),
    "转": ("D", ("S", "D", "F"), 2, (1, 2)),
    "合": ("M", ("A", "R", "S"), 0, (0,)),
    "A": ("M", ("R", "S", "F"), 0, (0,)),
    "B": ("D", ("S", "F", "D"), 2, (3,)),
    "verse": ("M", ("R", "S", "F"), 0, (3,)),
    "chorus": ("S", ("D", "M", "A"), 2, (0,)),
}

# phrase dynamics (MIDI velocity offsets): the turn and the chorus push, the continuation eases back
PHRASE_DYNAMICS = {"起": 0, "承": -4, "转": 8, "合": 4, "A": 0, "B": 6, "verse": -3, "chorus": 7}

# four-beat rhythms are two two-beat cells (durations in beats)
CELLS = ((1.0, 1.0), (0.5, 0.5, 1.0), (1.0, 0.5, 0.5), (0.5, 0.5, 0.5, 0.5), (1.5, 0.5), (0.75, 0.25, 1.0),
         (0.5, 1.0, 0.5))
CLOSING_CELLS = ((1.0, 1.0), (0.5, 0.5, 1.0), (1.5, 0.5), (2.0,))
STEP_CHOICES = np.array([-3, -2, -1, 1, 2, 3])
STEP_WEIGHTS = np.array([0.5, 2.0, 4.0, 4.0, 2.0, 0.5])
PLUCKED = {"guzheng", "pipa"}
BOWED = {"erhu"}


def stream(seed: int, name: str) -> np.random.Generator:
    """The random stream ``name`` for a seed (independent of every other stream)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, STREAMS.index(name) + 1])


@dataclass(frozen=True)
class Note:
    """One written note. Times in beats from the start of the piece; ``midi`` is a MIDI note number.

    ``passing`` names a marked passing tone (``"qingjue"`` 清角 / ``"biangong"`` 变宫). ``ornament`` is
    ``"grace"`` (a short ``grace_midi`` before the beat), ``"slide"`` (a glide into the note from
    ``grace_midi``) or ``"tremolo"`` (plucked lines: 轮指/摇指 repeated plucks).
    """

    start_beat: float
    duration_beats: float
    midi: int
    velocity: int = 90
    passing: str | None = None
    ornament: str | None = None
    grace_midi: int | None = None

    @property
    def end_beat(self) -> float:
        return self.start_beat + self.duration_beats


@dataclass(frozen=True)
class Phrase:
    label: str
    start_bar: int
    bars: int
    goal_step: int

    @property
    def end_bar(self) -> int:
        return self.start_bar + self.bars


@dataclass
class Part:
    """One line of the score: a stem in the audio and a track in the MIDI file."""

    name: str
    role: str
    instrument: str
    notes: list[Note] = field(default_factory=list)
    pan: float = 0.0
    gain_db: float = 0.0
    reverb: float = 0.15
    percussion: bool = False


@dataclass
class Score:
    scale: Scale
    meter: str
    beats_per_bar: int
    bars: int
    intro_bars: int
    tempo_bpm: np.ndarray            # (bars,) float64, tempo of each bar
    phrases: list[Phrase]
    motif: tuple[tuple[float, int], ...]   # (duration in beats, step relative to the motif's first note)
    parts: list[Part] = field(default_factory=list)
    last_step: int = 0

    @property
    def total_beats(self) -> float:
        return float(self.bars * self.beats_per_bar)

    def bar_starts_s(self) -> np.ndarray:
        """(bars + 1,) float64: the time in seconds at which each bar starts, and the end of the last."""
        bar_s = self.beats_per_bar * 60.0 / self.tempo_bpm
        return np.concatenate([[0.0], np.cumsum(bar_s)])

    def seconds(self, beats: np.ndarray | float) -> np.ndarray:
        """Seconds from the start for positions in beats, following the tempo of each bar."""
        beats = np.asarray(beats, dtype=np.float64)
        starts = self.bar_starts_s()
        bar = np.clip(np.floor(beats / self.beats_per_bar).astype(np.int64), 0, self.bars - 1)
        return starts[bar] + (beats - bar * self.beats_per_bar) * 60.0 / self.tempo_bpm[bar]

    @property
    def duration_s(self) -> float:
        return float(self.bar_starts_s()[-1])

    def part(self, name: str) -> Part:
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(name)

    @property
    def melody(self) -> Part:
        for part in self.parts:
            if part.role == "melody":
                return part
        raise KeyError("melody")


# --------------------------------------------------------------------------------------------
# form fitting
# --------------------------------------------------------------------------------------------


def fit_form(*, duration_s: float, tempo_bpm: float, beats_per_bar: int, form: str, phrase_bars: int,
             intro_bars: int, accelerate: float = 1.0) -> tuple[int, int, int]:
    """Choose (cycles, phrase_bars, intro_bars) so the piece lasts about ``duration_s``.

    Phrases are whole four-beat units (at least two when the piece is long enough), preferably the
    preset's length: another length costs 1.5 bars of error plus 0.3 per bar of difference (errors count less in
    pieces longer than 32 bars), and the intro
    may grow by up to two bars at half a bar each. At least one cycle of the form is always written.
    """
    if form not in FORMS:
        raise ValueError(f"form {form!r} is not one of {', '.join(FORMS)}")
    bars_per_unit = max(1, UNIT_BEATS // beats_per_bar)
    mean_tempo = tempo_bpm * (1.0 + accelerate) / 2.0
    target_bars = duration_s * mean_tempo / 60.0 / beats_per_bar
    best = None
    shortest_cycle = len(FORMS[form]) * 2 * bars_per_unit + intro_bars
    units = (2, 3, 4, 6, 8) if target_bars >= shortest_cycle else (1, 2)
    if target_bars < len(FORMS[form]) * bars_per_unit + intro_bars:
        intro_bars = 0          # a very short piece: one cycle of one-unit phrases, no intro
    for pb in sorted({phrase_bars, *(u * bars_per_unit for u in units)}):
        for cycles in range(1, 129):
            for extra in range(0, 3 if intro_bars else 1):
                bars = cycles * len(FORMS[form]) * pb + intro_bars + extra
                cost = (abs(bars - target_bars) * 32.0 / max(32.0, target_bars) + 1.5 * (pb != phrase_bars)
                        + 0.3 * abs(pb - phrase_bars) + 0.5 * extra)
                if best is None or cost < best[0]:
                    best = (cost, cycles, pb, intro_bars + extra)
    return best[1], best[2], best[3]


# --------------------------------------------------------------------------------------------
# melody
# --------------------------------------------------------------------------------------------


def make_motif(rng: np.random.Generator) -> tuple[tuple[float, int], ...]:
    """A four-beat motif: rhythm from two cells, a stepwise contour with the odd pentatonic leap."""
    rhythm = CELLS[rng.integers(len(CELLS))] + CELLS[rng.integers(len(CELLS))]
    steps = [0]
    for _ in range(len(rhythm) - 1):
        move = int(rng.choice(STEP_CHOICES, p=STEP_WEIGHTS / STEP_WEIGHTS.sum()))
        nxt = int(np.clip(steps[-1] + move, -3, 4))
        if nxt == steps[-1]:
            nxt = steps[-1] - int(np.sign(move))
        steps.append(nxt)
    return tuple(zip(rhythm, steps))


BREATH_BEATS = 0.5      # the rest at the end of every phrase but the last: singers and wind players breathe


def _unit_notes(op: str, motif, base: int, prev: int, goal: int | None, rng: np.random.Generator,
                breath: float = 0.0):
    """(offset_beats, duration_beats, step) triples for one four-beat unit."""
    if op in ("M", "S", "R"):
        shift = 0
        if op == "S":
            shift = int(rng.choice([-2, -1, 1, 2]))
        out, t = [], 0.0
        for dur, rel in motif:
            out.append((t, dur, base + rel + shift))
            t += dur
        return regroup(out, rng) if op == "R" else out
    if op == "D":
        out, t = [], 0.0
        for copy, shift in enumerate((0, -1)):
            for dur, rel in motif:
                out.append((t, dur / 2.0, base + rel + shift))
                t += dur / 2.0
        return out
    if op == "A":
        out, t = [], 0.0
        for dur, rel in motif:
            if t >= UNIT_BEATS:
                break
            d = min(dur * 2.0, UNIT_BEATS - t)
            out.append((t, d, base + rel))
            t += d
        return out
    if op == "F":
        rhythm = CELLS[rng.integers(len(CELLS))] + CELLS[rng.integers(len(CELLS))]
        out, t, step = [], 0.0, prev
        for dur in rhythm:
            step = int(np.clip(step + int(rng.choice([-2, -1, 1, 2], p=[0.2, 0.3, 0.3, 0.2])), base - 3, base + 5))
            out.append((t, dur, step))
            t += dur
        return out
    if op == "C":
        closing = CLOSING_CELLS[rng.integers(len(CLOSING_CELLS))]
        approach = [goal + 2, goal + 1] if rng.random() < 0.6 else [goal - 1, goal + 1]
        if prev < goal - 2 and rng.random() < 0.7:
            approach = [goal - 2, goal - 1]
        out, t = [], 0.0
        for i, dur in enumerate(closing):
            out.append((t, dur, approach[i % len(approach)] if len(closing) > 1 else goal))
            t += dur
        out.append((t, UNIT_BEATS - t - breath, goal))
        return out
    raise AssertionError(op)


def regroup(notes, rng: np.random.Generator):
    """Rhythmic variation that keeps the contour: split the longest note (repeating its pitch) or merge
    a pair of equal pitches-in-a-row candidates (the second absorbed into the first when it repeats)."""
    notes = list(notes)
    longest = max(range(len(notes)), key=lambda i: (notes[i][1], -i))
    t, d, s = notes[longest]
    if d >= 1.0 and (rng.random() < 0.6 or len(notes) < 3):
        first = d * (0.75 if rng.random() < 0.5 else 0.5)
        notes[longest:longest + 1] = [(t, first, s), (t + first, d - first, s)]
        return notes
    i = int(rng.integers(len(notes) - 1))
    t0, d0, s0 = notes[i]
    t1, d1, s1 = notes[i + 1]
    if d0 + d1 <= 2.0:
        # dotted regrouping: lengthen the first, shorten the second, pitches unchanged
        notes[i], notes[i + 1] = (t0, (d0 + d1) * 0.75, s0), (t0 + (d0 + d1) * 0.75, (d0 + d1) * 0.25, s1)
    return notes


def nearest_goal(goal: int, prev: int, lo: int, hi: int) -> int:
    candidates = [goal + 5 * k for k in range(-4, 5) if lo <= goal + 5 * k <= hi]
    return min(candidates, key=lambda c: (abs(c - prev), c))


def _fit_range(notes, lo: int, hi: int):
    """Shift a unit by octaves (5 steps) towards the melody range, then fold any note still outside it
    by octaves; pitch classes never change."""
    steps = [s for _, _, s in notes]
    shift = 0
    while max(steps) + shift > hi and min(steps) + shift - 5 >= lo:
        shift -= 5
    while min(steps) + shift < lo and max(steps) + shift + 5 <= hi:
        shift += 5
    out = []
    for t, d, s in notes:
        s += shift
        while s > hi:
            s -= 5
        while s < lo:
            s += 5
        out.append((t, d, s))
    return out


def compose_melody(*, scale: Scale, beats_per_bar: int, form: str, cycles: int, phrase_bars: int,
                   intro_bars: int, seeds: dict[str, int], rhythm_variation: float, ornament_density: float,
                   passing_tones: bool, instrument: str, start_step: int | None = None,
                   step_range: tuple[int, int] = (-3, 8)) -> tuple[list[Note], list[Phrase], tuple, int]:
    """Write the melody: one motif, developed unit by unit through the phrases of ``cycles`` cycles of ``form``.

    Parameters
    ----------
    scale : Scale
        Mode and final; every main note is a scale step of it.
    beats_per_bar : int
        2 or 4.
    form : str
        A key of :data:`FORMS`.
    cycles, phrase_bars, intro_bars : int
        How many times the form runs, bars per phrase (a whole number of four-beat units), bars of intro
        before the melody enters.
    seeds : dict
        Seed per random stream (``motif``, ``development``, ``rhythm``, ``ornament``).
    rhythm_variation : float
        0-1, the share of units whose rhythm is regrouped (variations).
    ornament_density : float
        0-1, how often notes are ornamented.
    passing_tones : bool
        Allow 清角/变宫 as marked passing tones.
    instrument : str
        The melody instrument (its idiomatic ornaments).
    start_step : int, optional
        Where the motif starts (a continuation starts where its take ended).
    step_range : (int, int)
        Lowest and highest scale step.

    Returns
    -------
    (notes, phrases, motif, last_step) : tuple
        ``notes`` list of :class:`Note` in time order (beats from the start of the piece); ``phrases`` list of
        :class:`Phrase`; the motif as (duration beats, relative step) pairs; the last note's scale step.
    """
    motif = make_motif(stream(seeds["motif"], "motif"))
    dev = stream(seeds["development"], "development")
    rhy = stream(seeds["rhythm"], "rhythm")
    lo, hi = step_range
    units_per_phrase = max(1, phrase_bars * beats_per_bar // UNIT_BEATS)
    labels = FORMS[form] * cycles
    base = int(stream(seeds["motif"], "motif").integers(0, 3)) if start_step is None else int(start_step)
    prev = base
    notes: list[Note] = []
    phrases: list[Phrase] = []
    beat = float(intro_bars * beats_per_bar)
    for index, label in enumerate(labels):
        last_phrase = index == len(labels) - 1
        goal, ops = _plan_phrase(form, label, index, units_per_phrase, dev, last_phrase=last_phrase)
        phrase_base = base + PHRASE_PLANS[label][2]
        for u, op in enumerate(ops):
            goal_step = nearest_goal(goal, prev, lo, hi) if op == "C" else None
            unit = _develop_unit(op, motif, phrase_base, prev, goal_step, dev, rhy, step_range,
                                 rhythm_variation=rhythm_variation, last_phrase=last_phrase)
            notes.extend(_sounding_unit(unit, beat, scale, beats_per_bar, label, u, len(ops)))
            prev = unit[-1][2]
            beat += UNIT_BEATS
        phrases.append(Phrase(label=label, start_bar=intro_bars + index * phrase_bars, bars=phrase_bars,
                              goal_step=goal))
    notes = _merge_ties(notes)
    if passing_tones:
        notes = add_passing_tones(notes, scale, stream(seeds["ornament"], "ornament"))
    notes = add_ornaments(notes, scale, stream(seeds["ornament"], "ornament"), density=ornament_density,
                          instrument=instrument)
    return notes, phrases, motif, prev


def _plan_phrase(form: str, label: str, index: int, units_per_phrase: int, dev: np.random.Generator, *,
                 last_phrase: bool) -> tuple[int, list[str]]:
    """The phrase's cadence goal (a scale step) and its development operation per unit.

    The first unit states the phrase's opening operation, the middle units draw from its pool and the last
    one cadences ("C"); the piece's last phrase cadences on the final (step 0), and in AABA the A that opens
    each cycle aims at step 3. The goal is drawn before the operations: the order of draws from the
    development stream is part of what a seed reproduces.
    """
    first, pool, _register, goals = PHRASE_PLANS[label]
    if form == "aaba" and label == "A" and index % 4 == 0:
        goals = (3,)
    goal = 0 if last_phrase else int(goals[dev.integers(len(goals))])
    ops = [first] + [pool[dev.integers(len(pool))] for _ in range(units_per_phrase - 2)] + ["C"]
    if units_per_phrase == 1:
        ops = ["C"]
    return goal, ops


def _develop_unit(op: str, motif: tuple, phrase_base: int, prev: int, goal_step: int | None,
                  dev: np.random.Generator, rhy: np.random.Generator, step_range: tuple[int, int], *,
                  rhythm_variation: float, last_phrase: bool) -> list[tuple[float, float, int]]:
    """One four-beat unit as (beat in unit, duration beats, scale step) triples.

    A cadence ends on its goal and keeps its rhythm (a breath after it, except at the very end); any other
    unit may have its rhythm regrouped and is folded back into ``step_range``.
    """
    breath = BREATH_BEATS if (op == "C" and not last_phrase) else 0.0
    unit = _unit_notes(op, motif, phrase_base, prev, goal_step, dev, breath)
    if op != "C" and rhythm_variation > 0 and rhy.random() < rhythm_variation:
        unit = regroup(unit, rhy)
    if op != "C":
        unit = _fit_range(unit, *step_range)
    return unit


def _sounding_unit(unit: list[tuple[float, float, int]], beat: float, scale: Scale, beats_per_bar: int,
                   label: str, unit_index: int, units: int) -> list[Note]:
    """The unit's notes at ``beat`` with velocities: the phrase's dynamic level, an arch, accented downbeats.

    The arch is ``6 sin(pi (u + 1/2) / units)`` for unit ``u`` of the phrase's ``units``, so the middle of a
    phrase swells by up to 6 velocity steps; a downbeat adds 12.
    """
    arch = 6.0 * np.sin(np.pi * (unit_index + 0.5) / units)
    notes = []
    for t, d, s in unit:
        accent = 12 if (t % beats_per_bar) == 0 else 0
        velocity = 78 + PHRASE_DYNAMICS.get(label, 0) + arch + accent
        notes.append(Note(beat + t, d, scale.midi(s), velocity=int(np.clip(round(velocity), 1, 127))))
    return notes


def _merge_ties(notes: list[Note]) -> list[Note]:
    """Cadence notes that end a unit and repeat into the next unit's first note stay separate notes."""
    return [n for n in notes if n.duration_beats > 1e-9]


def add_passing_tones(notes: Sequence[Note], scale: Scale, rng: np.random.Generator) -> list[Note]:
    """Fill some steps between 角-徵 and 羽-宫 with 清角/变宫, marked as passing tones."""
    out: list[Note] = []
    for i, note in enumerate(notes):
        nxt = notes[i + 1] if i + 1 < len(notes) else None
        a, b = scale.step_of_midi(note.midi), scale.step_of_midi(nxt.midi) if nxt else None
        tone = scale.passing_between(a, b) if (nxt is not None and a is not None and b is not None) else None
        if tone and note.duration_beats >= 1.0 and abs(nxt.start_beat - note.end_beat) < 1e-9 and rng.random() < 0.5:
            half = note.duration_beats / 2.0
            out.append(replace(note, duration_beats=half))
            out.append(Note(note.start_beat + half, half, tone[1], velocity=note.velocity - 10, passing=tone[0]))
        else:
            out.append(note)
    return out


def add_ornaments(notes: Sequence[Note], scale: Scale, rng: np.random.Generator, *, density: float,
                  instrument: str) -> list[Note]:
    """Mark ornaments idiomatic for the instrument: tremolo on long plucked notes, slides on bowed and
    plucked (按滑) notes, grace notes (倚音) on winds. Grace and slide source pitches are scale neighbours."""
    out = []
    for i, note in enumerate(notes):
        if note.passing or i == len(notes) - 1:
            out.append(note)
            continue
        step = scale.step_of_midi(note.midi)
        roll = rng.random()
        neighbour = scale.midi(step + (1 if rng.random() < 0.6 else -1))
        below = scale.midi(step - 1)
        if instrument in PLUCKED and note.duration_beats >= 1.5 and roll < density:
            out.append(replace(note, ornament="tremolo"))
        elif instrument in PLUCKED | BOWED and roll < density * 0.5 and note.duration_beats >= 0.5:
            out.append(replace(note, ornament="slide", grace_midi=below))
        elif roll < density * 0.4 and note.duration_beats >= 0.5:
            out.append(replace(note, ornament="grace", grace_midi=neighbour))
        else:
            out.append(note)
    return out


def contour_grid(notes: Sequence[Note], total_beats: float, *, grid_beats: float = 0.5) -> np.ndarray:
    """(n,) int: the sounding written pitch on a grid of ``grid_beats`` (held notes hold; before the first
    note, the first pitch)."""
    starts = np.array([n.start_beat for n in notes])
    pitches = np.array([n.midi for n in notes])
    grid = np.arange(0.0, total_beats, grid_beats)
    idx = np.clip(np.searchsorted(starts, grid + 1e-9, side="right") - 1, 0, len(notes) - 1)
    return pitches[idx]


def contour_similarity(a: Sequence[Note], b: Sequence[Note], *, total_beats: float | None = None) -> float:
    """How much two melodies share their shape: on an eighth-note grid, of the steps where at least one of
    them moves, the fraction where both move the same way (a hold against a move counts as a disagreement).

    1.0 for the same contour (transposition and octave shifts of whole passages aside), 0.0 for a mirrored
    one, about 0.3 for unrelated tunes. Compared over the shorter of the two.
    """
    if not a or not b:
        raise ValueError("both melodies need at least one note")
    end = total_beats or min(max(n.end_beat for n in a), max(n.end_beat for n in b))
    ga, gb = contour_grid(a, end), contour_grid(b, end)
    da, db = np.sign(np.diff(ga)), np.sign(np.diff(gb))
    moving = (da != 0) | (db != 0)
    return float(np.mean(da[moving] == db[moving])) if moving.any() else 1.0
