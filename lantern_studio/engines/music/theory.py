"""Chinese pentatonic theory: the five modes, keys, scale steps and the two passing tones.

The five modes share one pentatonic collection (宫 商 角 徵 羽 on a gong pitch); each mode takes one of the
five notes as its final (主音). Intervals are semitones above the mode's own final:

=====  ====  ==================
mode   调式   semitones
=====  ====  ==================
gong   宫调   0 2 4 7 9
shang  商调   0 2 5 7 10
jue    角调   0 3 5 8 10
zhi    徵调   0 2 5 7 9
yu     羽调   0 3 5 7 10
=====  ====  ==================

A key names the final's pitch: "D zhi" has final D, and its gong (宫) note is G (the final is the mode's
own tonic degree). The passing tones 清角 (qingjue, gong + 5) and 变宫 (biangong, gong + 11) are outside the
pentatonic collection and only ever appear marked as passing tones.

Melodies are written in *scale steps*: integer step ``s`` is pentatonic degree ``s % 5`` of the mode in octave
``s // 5`` above the final, so step 0, 5, -5, ... are always the final.
"""

from __future__ import annotations

from dataclasses import dataclass

MODES: dict[str, tuple[int, ...]] = {
    "gong": (0, 2, 4, 7, 9),
    "shang": (0, 2, 5, 7, 10),
    "jue": (0, 3, 5, 8, 10),
    "zhi": (0, 2, 5, 7, 9),
    "yu": (0, 3, 5, 7, 10),
}
MODE_NAMES_ZH = {"gong": "宫", "shang": "商", "jue": "角", "zhi": "徵", "yu": "羽"}
#: semitones from the gong note up to each mode's final
FINAL_ABOVE_GONG = {"gong": 0, "shang": 2, "jue": 4, "zhi": 7, "yu": 9}
#: the passing tones, semitones above the gong note
PASSING_TONES = {"qingjue": 5, "biangong": 11}
PASSING_TONE_NAMES_ZH = {"qingjue": "清角", "biangong": "变宫"}

PITCH_CLASSES = {"C": 0, "C#": 1, "DB": 1, "D": 2, "D#": 3, "EB": 3, "E": 4, "F": 5, "F#": 6, "GB": 6, "G": 7,
                 "G#": 8, "AB": 8, "A": 9, "A#": 10, "BB": 10, "B": 11}
KEY_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
METERS = {"2/4": 2, "4/4": 4}


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)} (宫 商 角 徵 羽)")
    return mode


def pitch_class(key: str | int) -> int:
    """Pitch class 0-11 of a key name such as ``"D"``, ``"Eb"``, ``"F#"`` (or an int 0-11)."""
    if isinstance(key, int) and not isinstance(key, bool):
        if not 0 <= key < 12:
            raise ValueError(f"key {key} is outside 0-11; give a pitch class or a name such as 'D'")
        return key
    name = str(key).strip().upper()
    if name not in PITCH_CLASSES:
        raise ValueError(f"key {key!r} is not a note name; use one of {', '.join(KEY_NAMES)}")
    return PITCH_CLASSES[name]


def beats_per_bar(meter: str) -> int:
    if meter not in METERS:
        raise ValueError(f"meter {meter!r} is not one of {', '.join(METERS)}")
    return METERS[meter]


@dataclass(frozen=True)
class Scale:
    """A mode on a final pitch class. ``final_midi`` is the final in the melody's home octave."""

    mode: str
    final_pc: int
    final_midi: int

    @classmethod
    def make(cls, mode: str, key: str | int, *, octave: int = 5) -> "Scale":
        check_mode(mode)
        pc = pitch_class(key)
        return cls(mode=mode, final_pc=pc, final_midi=12 * (octave + 1) + pc)

    @property
    def intervals(self) -> tuple[int, ...]:
        return MODES[self.mode]

    @property
    def gong_pc(self) -> int:
        return (self.final_pc - FINAL_ABOVE_GONG[self.mode]) % 12

    @property
    def pitch_classes(self) -> frozenset[int]:
        return frozenset((self.final_pc + i) % 12 for i in self.intervals)

    @property
    def passing_pitch_classes(self) -> dict[str, int]:
        return {name: (self.gong_pc + semis) % 12 for name, semis in PASSING_TONES.items()}

    def midi(self, step: int, *, octave_shift: int = 0) -> int:
        """MIDI note of scale step ``step`` (step 0 = the final in the home octave)."""
        octave, degree = divmod(int(step), 5)
        return self.final_midi + 12 * (octave + octave_shift) + self.intervals[degree]

    def step_of_midi(self, midi: int) -> int | None:
        """The scale step of a MIDI note, or None when the note is not in the mode."""
        rel = midi - self.final_midi
        octave, semis = divmod(rel, 12)
        if semis not in self.intervals:
            return None
        return 5 * octave + self.intervals.index(semis)

    def is_final(self, midi: int) -> bool:
        return midi % 12 == self.final_pc

    def passing_between(self, step_a: int, step_b: int) -> tuple[str, int] | None:
        """The passing tone that fills the gap between two adjacent steps, as (name, midi), if any.

        清角 lies between 角 (gong + 4) and 徵 (gong + 7); 变宫 between 羽 (gong + 9) and 宫 (gong + 12).
        """
        if abs(step_a - step_b) != 1:
            return None
        low, high = sorted((self.midi(step_a), self.midi(step_b)))
        for name, pc in self.passing_pitch_classes.items():
            for candidate in range(low + 1, high):
                if candidate % 12 == pc:
                    return name, candidate
        return None

    def describe(self) -> str:
        final = KEY_NAMES[self.final_pc]
        gong = KEY_NAMES[self.gong_pc]
        return f"{final} {self.mode} ({final}{MODE_NAMES_ZH[self.mode]}调, 宫 = {gong})"


def key_signature(scale: Scale) -> str:
    """A MIDI key-signature name for the scale's gong collection (the major key on the gong note)."""
    names = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
    return names[scale.gong_pc]
