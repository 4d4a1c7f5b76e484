"""The storyboard's data: characters, shots and the board that holds them. Plain dataclasses with
``to_dict``/``from_dict`` so the shot list round-trips through the project as JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

SHOT_SIZES = ("EWS", "WS", "MS", "MCU", "CU", "ECU")
CAMERA_MOVES = ("static", "push_in", "pull_out", "pan_left", "pan_right", "tilt_up", "tilt_down", "shake")
TRANSITIONS = ("cut", "dissolve", "dip", "wipe")
INT_EXT = ("", "INT", "EXT", "INT/EXT")
TIMES_OF_DAY = ("", "day", "night", "dawn", "dusk")


@dataclass
class Character:
    name: str
    description: str = ""
    color: str = "#c0392b"      # hex RGB, drives figures, name tags and bubbles
    seed: int = 0               # fixed per character so every renderer draws them the same way
    # the character's voice (engines.speech); an empty voice_name gets a default from the description
    voice_engine: str = "espeak"
    voice_name: str = ""
    voice_pitch: int = 50       # 0..100, 50 is the voice's own
    voice_speed: float = 1.0    # relative to the voice's normal rate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Character":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Shot:
    """One beat of the script: an action paragraph or a dialogue line.

    ``scene``: the scene heading it belongs to (e.g. ``"INT. KITCHEN - NIGHT"`` or ``"第二场 内景 奶奶家厨房 夜"``).
    ``size``: one of SHOT_SIZES. ``move``: one of CAMERA_MOVES. ``transition``: how this shot is entered.
    """

    number: int
    scene: str = ""
    size: str = "MS"
    move: str = "static"
    duration_s: float = 2.0
    characters: list[str] = field(default_factory=list)
    speaker: str = ""
    dialogue: str = ""
    parenthetical: str = ""
    action: str = ""
    notes: str = ""
    transition: str = "cut"
    sfx: str = ""
    # defaults keep shot lists saved before these fields existed loading:
    kind: str = "action"            # "action", "dialogue" or "title" (a centered title card)
    extension: str = ""             # the speaker's cue extension: V.O., O.S., CONT'D
    dual_speaker: str = ""          # dual dialogue: the second speaker, talking at the same time
    dual_dialogue: str = ""
    source_line: int = 0            # 1-based line of the script this beat came from
    int_ext: str = ""               # one of INT_EXT: the scene is inside, outside or both ("" = not said)
    time_of_day: str = ""           # one of TIMES_OF_DAY ("" = not said)

    def validate(self) -> None:
        if self.size not in SHOT_SIZES:
            raise ValueError(f"shot {self.number}: size {self.size!r} is not one of {', '.join(SHOT_SIZES)}")
        if self.move not in CAMERA_MOVES:
            raise ValueError(f"shot {self.number}: camera move {self.move!r} is not one of {', '.join(CAMERA_MOVES)}")
        if self.transition not in TRANSITIONS:
            raise ValueError(f"shot {self.number}: transition {self.transition!r} is not one of "
                             f"{', '.join(TRANSITIONS)}")
        if not self.duration_s > 0:
            raise ValueError(f"shot {self.number}: duration must be more than 0 s")
        if self.int_ext not in INT_EXT:
            raise ValueError(f"shot {self.number}: int_ext {self.int_ext!r} is not one of INT, EXT, INT/EXT or empty")
        if self.time_of_day not in TIMES_OF_DAY:
            raise ValueError(f"shot {self.number}: time of day {self.time_of_day!r} is not one of "
                             f"{', '.join(t for t in TIMES_OF_DAY if t)} or empty")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Shot":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Storyboard:
    title: str = ""
    language: str = "en"                  # "zh" or "en": drives reading speed and fonts
    shots: list[Shot] = field(default_factory=list)
    characters: dict[str, Character] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return sum(shot.duration_s for shot in self.shots)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "language": self.language, "shots": [s.to_dict() for s in self.shots],
                "characters": [c.to_dict() for c in self.characters.values()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Storyboard":
        characters = [Character.from_dict(c) for c in data.get("characters", [])]
        return cls(title=data.get("title", ""), language=data.get("language", "en"),
                   shots=[Shot.from_dict(s) for s in data.get("shots", [])],
                   characters={c.name: c for c in characters})
