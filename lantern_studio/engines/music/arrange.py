"""Accompaniment and percussion written around the melody.

- ``drone``: open fifths (final + fifth; a fourth where the mode has no fifth above the note) held through
  each phrase, moving to step 3 for the 转/B/verse phrases' second half and back to the final at cadences.
- ``harmony``: simple parallel harmony: the melody's strong-beat notes a fifth lower (a fourth where the
  fifth would leave the mode), one octave down.
- ``ostinato``: a repeating plucked figure in scale steps over the current root (a pattern per phrase).
- ``heterophony`` (支声): a second instrument plays the melody with its own small liberties, as in 丝竹
  ensembles: quick notes folded into the one before, some long notes turned with an upper neighbour in the
  mode, an octave away.
- percussion in 锣鼓经 (luogujing) syllables, one syllable per grid slot: 仓 big gong + cymbals + drum,
  才 cymbals, 七 damped cymbals, 台 small gong, 令 soft small gong, 冬 big drum, 大 accented big drum,
  八 drum rim, 0 rest. Patterns live in the preset files; lion-dance presets accelerate through the tempo map.
- ``firecrackers``: bursts at the start and at the end.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lantern_studio.engines.music.score import UNIT_BEATS, Note, Score, stream

# GM percussion keys (channel 10) for the studio's percussion. General MIDI has no gongs: the nearest
# metallic sounds are used so a DAW plays something sensible, and the synthesis maps them back.
DRUM_CENTER, DRUM_RIM = 36, 37          # 大鼓 centre / rim (Bass Drum 1, Side Stick)
BIG_GONG, SMALL_GONG = 57, 67           # 大锣 (Crash Cymbal 2), 小锣 (High Agogo)
CYMBAL_OPEN, CYMBAL_DAMPED = 52, 55     # 铙钹 open (Chinese Cymbal), damped (Splash Cymbal)
FIRECRACKER = 39                        # 鞭炮 (Hand Clap)
PERCUSSION_ROLES = ("drum", "gong", "cymbal", "firecrackers")

#: syllable -> list of (part role, GM key, velocity)
SYLLABLES: dict[str, list[tuple[str, int, int]]] = {
    "仓": [("gong", BIG_GONG, 110), ("cymbal", CYMBAL_OPEN, 100), ("drum", DRUM_CENTER, 112)],
    "才": [("cymbal", CYMBAL_OPEN, 88)],
    "七": [("cymbal", CYMBAL_DAMPED, 80)],
    "台": [("gong", SMALL_GONG, 96)],
    "令": [("gong", SMALL_GONG, 62)],
    "冬": [("drum", DRUM_CENTER, 96)],
    "大": [("drum", DRUM_CENTER, 120)],
    "八": [("drum", DRUM_RIM, 84)],
    "0": [],
}

OSTINATO_PATTERNS = ((0, 2, 4, 2), (0, 4, 5, 4), (0, 2, 3, 5), (0, 3, 5, 3), (5, 4, 2, 0), (0, 5, 4, 2))


def tempo_map(*, bars: int, tempo_bpm: float, accelerate: float = 1.0) -> np.ndarray:
    """(bars,) float64 tempo of each bar: constant, or rising geometrically to ``tempo_bpm * accelerate``."""
    if bars <= 1 or accelerate == 1.0:
        return np.full(max(bars, 1), float(tempo_bpm))
    return float(tempo_bpm) * float(accelerate) ** (np.arange(bars) / (bars - 1))


def fifth_above(score: Score, midi: int) -> int:
    pcs = score.scale.pitch_classes
    return midi + 7 if (midi + 7) % 12 in pcs else midi + 5


def fifth_below(score: Score, midi: int) -> int:
    pcs = score.scale.pitch_classes
    if (midi - 7) % 12 in pcs:
        return midi - 7
    if (midi - 5) % 12 in pcs:
        return midi - 5
    return midi - 12


def _unit_roots(score: Score, rng: np.random.Generator) -> list[tuple[float, int]]:
    """(start beat, root step) for every four-beat unit after the intro."""
    roots = [(float(u * UNIT_BEATS), 0) for u in range(score.intro_bars * score.beats_per_bar // UNIT_BEATS)]
    for phrase in score.phrases:
        start = phrase.start_bar * score.beats_per_bar
        units = max(1, phrase.bars * score.beats_per_bar // UNIT_BEATS)
        for u in range(units):
            if u == units - 1:
                root = phrase.goal_step % 5
            elif phrase.label in ("转", "B", "chorus") and u >= units // 2:
                root = 3 if rng.random() < 0.7 else 1
            else:
                root = 0 if rng.random() < 0.8 else 3
            roots.append((float(start + u * UNIT_BEATS), root))
    return roots


def drone(score: Score, *, octave_shift: int, seed: int) -> list[Note]:
    """Open fifths held a unit at a time (tied across units on the same pitches) over each unit's root."""
    rng = stream(seed, "harmony")
    notes = []
    for start, root in _unit_roots(score, rng):
        low = score.scale.midi(root, octave_shift=octave_shift)
        if low > score.scale.final_midi + 12 * octave_shift + 4:
            low -= 12
        for midi in (low, fifth_above(score, low)):
            notes.append(Note(start, float(UNIT_BEATS), midi, velocity=64))
    return _tie_repeats(notes)


def _tie_repeats(notes: list[Note]) -> list[Note]:
    """Join a held note with the same pitch that starts as it ends (a drone bowed on)."""
    by_pitch: dict[int, list[Note]] = {}
    for n in sorted(notes, key=lambda n: (n.midi, n.start_beat)):
        run = by_pitch.setdefault(n.midi, [])
        if run and abs(run[-1].end_beat - n.start_beat) < 1e-9 and run[-1].duration_beats < 2 * UNIT_BEATS:
            last = run.pop()
            run.append(Note(last.start_beat, last.duration_beats + n.duration_beats, n.midi, n.velocity))
        else:
            run.append(n)
    return sorted((n for run in by_pitch.values() for n in run), key=lambda n: (n.start_beat, n.midi))


def harmony(score: Score, melody: Sequence[Note], *, octave_shift: int) -> list[Note]:
    """Parallel fifths under the melody's strong beats (every two beats), each held for two beats."""
    notes = []
    starts = np.array([n.start_beat for n in melody])
    begin = score.intro_bars * score.beats_per_bar
    for beat in np.arange(begin, score.total_beats, 2.0):
        i = int(np.searchsorted(starts, beat + 1e-9, side="right") - 1)
        if i < 0 or melody[i].end_beat <= beat:
            continue
        base = melody[i]
        midi = fifth_below(score, base.midi) + 12 * octave_shift
        notes.append(Note(float(beat), 2.0, midi, velocity=70))
    return notes


def heterophony(score: Score, melody: Sequence[Note], *, octave_shift: int, seed: int) -> list[Note]:
    """The melody's notes with a second player's liberties (all pitches stay in the mode)."""
    rng = stream(seed, "harmony")
    shift = 12 * octave_shift
    out: list[Note] = []
    for note in melody:
        if note.passing:
            continue
        if (out and note.duration_beats <= 0.5 and abs(out[-1].end_beat - note.start_beat) < 1e-9
                and rng.random() < 0.5):
            last = out[-1]
            out[-1] = Note(last.start_beat, last.duration_beats + note.duration_beats, last.midi, last.velocity)
            continue
        step = score.scale.step_of_midi(note.midi)
        if note.duration_beats >= 1.0 and step is not None and rng.random() < 0.4:
            held = note.duration_beats - 0.5
            upper = score.scale.midi(step + 1) + shift
            out.append(Note(note.start_beat, held, note.midi + shift, velocity=max(1, note.velocity - 14)))
            out.append(Note(note.start_beat + held, 0.25, upper, velocity=max(1, note.velocity - 18)))
            out.append(Note(note.start_beat + held + 0.25, 0.25, note.midi + shift, velocity=max(1, note.velocity - 18)))
            continue
        out.append(Note(note.start_beat, note.duration_beats, note.midi + shift, velocity=max(1, note.velocity - 14)))
    return out


def ostinato(score: Score, *, octave_shift: int, seed: int, slots_per_beat: int = 2) -> list[Note]:
    """A repeating figure in scale steps (one pattern per phrase) on every slot of every unit, over the root."""
    rng = stream(seed, "harmony")
    notes = []
    patterns = [OSTINATO_PATTERNS[rng.integers(len(OSTINATO_PATTERNS))] for _ in score.phrases]
    roots = _unit_roots(score, stream(seed, "harmony"))
    slot = 1.0 / slots_per_beat
    for start, root in roots:
        phrase_index = max([i for i, p in enumerate(score.phrases)
                            if p.start_bar * score.beats_per_bar <= start + 1e-9], default=0)
        pattern = patterns[phrase_index]
        for k in range(int(UNIT_BEATS * slots_per_beat)):
            step = root + pattern[k % len(pattern)]
            accent = 14 if k % (slots_per_beat * 2) == 0 else 0
            notes.append(Note(start + k * slot, slot, score.scale.midi(step, octave_shift=octave_shift),
                              velocity=66 + accent))
    return notes


def _pattern_tokens(pattern: str) -> list[str]:
    tokens = pattern.replace("|", " ").split()
    for token in tokens:
        if token not in SYLLABLES:
            raise ValueError(f"percussion syllable {token!r} is not one of {' '.join(SYLLABLES)}")
    return tokens


def percussion(score: Score, spec: dict, roles: set[str], *, seed: int) -> dict[str, list[Note]]:
    """Notes for each percussion role present, from the preset's 锣鼓经 patterns.

    ``spec``: ``{"intro": [bar patterns], "groove": [bar patterns], "fill": bar pattern, "ending": bar
    pattern}``; each bar pattern is a string of syllables, one per grid slot (slots = tokens / beats).
    """
    rng = stream(seed, "percussion")
    out: dict[str, list[Note]] = {role: [] for role in roles}
    bpb = score.beats_per_bar
    phrase_ends = {p.end_bar - 1 for p in score.phrases}
    groove = [_pattern_tokens(p) for p in spec.get("groove", [])]
    intro = [_pattern_tokens(p) for p in spec.get("intro", [])] or groove
    fill = _pattern_tokens(spec["fill"]) if spec.get("fill") else None
    ending = _pattern_tokens(spec["ending"]) if spec.get("ending") else None
    if not groove:
        return out
    for bar in range(score.bars):
        if bar == score.bars - 1 and ending:
            tokens = ending
        elif bar < score.intro_bars:
            tokens = intro[bar % len(intro)]
        elif bar in phrase_ends and fill:
            tokens = fill
        else:
            tokens = groove[(bar - score.intro_bars) % len(groove)]
        slot = bpb / len(tokens)
        for k, token in enumerate(tokens):
            for role, key, velocity in SYLLABLES[token]:
                if role in out:
                    v = int(np.clip(velocity + rng.integers(-6, 7), 1, 127))
                    out[role].append(Note(bar * bpb + k * slot, slot, key, velocity=v))
    if "firecrackers" in out:
        burst = min(4.0, float(bpb * 2))
        out["firecrackers"].append(Note(0.0, burst, FIRECRACKER, velocity=110))
        out["firecrackers"].append(Note(max(0.0, score.total_beats - burst), burst, FIRECRACKER, velocity=120))
    return out
