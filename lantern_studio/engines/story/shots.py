"""Shot planning: a parsed script becomes a :class:`~engines.story.model.Storyboard`, one shot per beat.

A beat is an action paragraph, a dialogue line (or a dual-dialogue pair) or a centered title card. For each
shot the planner decides:

- **size** (EWS/WS/MS/MCU/CU/ECU) from the script's hints (``【特写】``, ``[CLOSE UP]``, a ``[[CU]]`` note),
  else a default: the first shot of a scene establishes it (EWS outside, WS inside), dialogue is MCU, dual
  dialogue MS, other action MS;
- **camera move** from the hints (``【推镜头】`` push in, ``【拉镜头】`` pull out, ``摇``/``pan``, ``shake``),
  else from a few words of the action (``抬头``/``looks up`` tilts up, ``炸开``/``SLAMMED`` shakes), else static;
- **duration** from the dialogue's length at a reading speed (characters per second, separate for Chinese
  and English), plus a pad, never under a minimum; action gets a base duration that grows for long text;
- **characters present**: the speaker, every known name the text mentions, and the scene's cast when the
  text says ``两人``/``大家``/``they``;
- **transition** into the shot from the script's transitions (``DISSOLVE TO:`` dissolve, ``FADE``/``淡出`` dip);
- **sfx** from sound-effect lines (``音效：砰！``) and onomatopoeia in the action (``咚咚``, ``BANG``).

:func:`plan_shots` is the entry point; :func:`shots_to_rows`/:func:`apply_shot_rows` are the editable
table, :func:`shots_to_csv` the CSV export.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Any, Iterable

from lantern_studio.engines.story.bible import build_bible
from lantern_studio.engines.story.model import (CAMERA_MOVES, INT_EXT, SHOT_SIZES, TIMES_OF_DAY, TRANSITIONS, Shot,
                                                Storyboard)
from lantern_studio.engines.story.script import Element, Script
from lantern_studio.engines.story.vocabulary import SceneLine, move_of, parse_scene_line, size_of


@dataclass(frozen=True)
class PlanOptions:
    """Reading speeds and duration rules (seconds).

    ``chars_per_second_zh`` counts Chinese characters (punctuation and spaces excluded);
    ``chars_per_second_en`` counts letters, digits and single spaces. A dialogue shot lasts
    ``spoken / speed + dialogue_pad_s``; an action shot ``max(action_duration_s, text / speed / 2)``; a title
    card ``title_duration_s``; every shot at least ``min_duration_s`` and at most ``max_duration_s``.
    """

    chars_per_second_zh: float = 4.0
    chars_per_second_en: float = 15.0
    min_duration_s: float = 1.5
    max_duration_s: float = 12.0
    dialogue_pad_s: float = 0.5
    action_duration_s: float = 2.5
    title_duration_s: float = 3.0

    def validate(self) -> None:
        for name in ("chars_per_second_zh", "chars_per_second_en", "min_duration_s", "max_duration_s",
                     "action_duration_s", "title_duration_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a number above 0, not {value!r}")
        if self.dialogue_pad_s < 0:
            raise ValueError("dialogue_pad_s must be 0 or more")
        if self.max_duration_s < self.min_duration_s:
            raise ValueError(f"max_duration_s ({self.max_duration_s}) must be at least min_duration_s "
                             f"({self.min_duration_s})")


# ------------------------------------------------------------------------------------------------
# hints
# ------------------------------------------------------------------------------------------------

# words of the action that suggest a move when no hint is given
_MOVE_WORDS = (
    ("shake", ("爆炸", "地震", "摔倒", "撞上", "SLAMMED", "SLAMS", "SMASH", "CRASH", "EXPLODE", "EXPLOSION")),
    ("tilt_up", ("抬头", "仰望", "looks up")),
    ("tilt_down", ("低头", "俯视", "looks down")),
    ("push_in", ("愣住", "愣了", "stares", "realizes", "looks straight")),
    ("pan_right", ("环顾", "looks around")),
)
_TRANSITION_WORDS = (
    ("dissolve", ("DISSOLVE", "叠化", "化入", "化出", "闪回")),
    ("dip", ("FADE", "BURN", "BLACK", "淡入", "淡出", "黑场", "闪白")),
    ("wipe", ("WIPE", "划入", "划出", "划")),
)
_SFX_ZH = ("噼里啪啦", "轰隆隆", "叮叮当当", "咚咚", "砰砰", "哗啦", "咔嚓", "叮咚", "轰隆", "砰", "嘭", "啪", "轰",
           "嗖", "咣")
_SFX_EN = ("BANG", "BOOM", "CRASH", "SMASH", "SLAM", "SLAMMED", "SMACK", "SMACKS", "THUD", "POW", "WHAM",
           "CRACK", "KNOCK", "RING", "BEEP", "VROOM", "SPLASH", "THWACK", "BAM")
_GROUP_WORDS = ("两人", "二人", "俩人", "大家", "众人", "全家", "一家人", "他们", "她们", "they ", "the men",
                "both", "everyone", "together", "each other")


def size_from_hints(hints: Iterable[str]) -> str | None:
    """The shot size a hint names (``"特写" -> "CU"``, ``"CLOSE UP" -> "CU"``), or None."""
    return size_of(hints)


def move_from_hints(hints: Iterable[str]) -> str | None:
    """The camera move a hint names (``"推镜头" -> "push_in"``, ``"PAN LEFT" -> "pan_left"``), or None."""
    return move_of(hints)


def transition_kind(text: str) -> str:
    """``"DISSOLVE TO:" -> "dissolve"``, ``"淡出" -> "dip"``, anything else ``"cut"``."""
    upper = text.upper()
    for kind, words in _TRANSITION_WORDS:
        if any(w in upper for w in words):
            return kind
    return "cut"


def spoken_units(text: str, *, language: str) -> int:
    """How much there is to read: CJK characters (zh) or letters, digits and single spaces (en).

    Punctuation never counts; in Chinese text Latin words count one unit per two letters.
    """
    if language == "zh":
        count = 0.0
        for ch in text:
            cat = unicodedata.category(ch)
            if cat.startswith("L") and ord(ch) > 0x2E80:
                count += 1
            elif cat.startswith(("L", "N")):
                count += 0.5
        return int(math.ceil(count))
    collapsed = re.sub(r"\s+", " ", text.strip())
    return sum(1 for ch in collapsed if ch == " " or unicodedata.category(ch).startswith(("L", "N")))


def dialogue_duration_s(text: str, *, language: str, options: PlanOptions = PlanOptions()) -> float:
    """Seconds a dialogue line stays on screen (see :class:`PlanOptions`), rounded to 0.1 s."""
    speed = options.chars_per_second_zh if language == "zh" else options.chars_per_second_en
    seconds = spoken_units(text, language=language) / speed + options.dialogue_pad_s
    return _clamp(seconds, options)


def action_duration_s(text: str, *, language: str, options: PlanOptions = PlanOptions()) -> float:
    speed = options.chars_per_second_zh if language == "zh" else options.chars_per_second_en
    seconds = max(options.action_duration_s, spoken_units(text, language=language) / speed / 2)
    return _clamp(seconds, options)


def _clamp(seconds: float, options: PlanOptions) -> float:
    return round(min(options.max_duration_s, max(options.min_duration_s, seconds)), 1)


def mentioned(text: str, names: Iterable[str]) -> list[str]:
    """Known names the text mentions, in order of first mention (case-insensitive whole words for Latin
    names, substrings for CJK names)."""
    found: list[tuple[int, str]] = []
    for name in names:
        if not name:
            continue
        if re.search(r"[A-Za-z]", name):
            match = re.search(rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])", text, re.IGNORECASE)
            position = match.start() if match else -1
        else:
            position = text.find(name)
        if position >= 0:
            found.append((position, name))
    return [name for _, name in sorted(found)]


def sfx_in(text: str) -> str:
    """An onomatopoeia in the action to letter on the panel (``咚咚``, ``SLAMMED -> SLAM!``), or ``""``."""
    for word in _SFX_ZH:
        if word in text:
            return word + "！"
    for word in re.findall(r"\b[A-Z]{3,}\b", text):
        if word in _SFX_EN:
            stem = {"SLAMMED": "SLAM", "SMACKS": "SMACK"}.get(word, word)
            return stem + "!"
    return ""


# ------------------------------------------------------------------------------------------------
# planning
# ------------------------------------------------------------------------------------------------


NARRATORS = ("旁白", "画外音", "独白", "内心独白", "解说", "NARRATOR", "Narrator", "narrator", "NARRATION",
             "OS", "O.S.", "VO", "V.O.", "os", "vo", "VOICE OVER", "VOICEOVER", "Voice over")


def is_narrator(name: str) -> bool:
    """A voice with no body on screen: 旁白, 画外音, NARRATOR, VO, OS."""
    return name.strip() in NARRATORS


def scene_fields(scene: str) -> SceneLine:
    """Interior/exterior, time of day and place of a scene heading; empty fields where it says nothing."""
    found = parse_scene_line(scene) if scene else None
    if found is not None:
        return found
    head = scene.strip().upper()
    int_ext = "EXT" if head.startswith(("EXT", "EST")) or "外景" in scene else "INT" if head.startswith("INT") or \
        "内景" in scene else ""
    return SceneLine(int_ext=int_ext, time_of_day="", place=scene.strip())


def is_exterior(scene: str) -> bool:
    return scene_fields(scene).int_ext in ("EXT", "INT/EXT")


def plan_shots(script: Script, *, options: PlanOptions = PlanOptions(), existing: Storyboard | None = None,
               progress=None) -> Storyboard:
    """Plan one shot per beat of ``script``.

    Parameters
    ----------
    script : Script
        From :func:`engines.story.script.parse_script`.
    options : PlanOptions
        Reading speeds and duration rules.
    existing : Storyboard, optional
        A previous board of the same project: its character bible entries (descriptions, colours, seeds the
        user edited) are kept for names that still appear.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    Storyboard
        Shots numbered from 1, the character bible for every speaker (in order of first line), the title and
        the language.
    """
    if not isinstance(script, Script):
        raise ValueError("plan_shots needs a Script from lantern_studio.engines.story.script.parse_script")
    options.validate()
    language = script.language
    speakers = list(dict.fromkeys(e.speaker for e in script.elements
                                  if e.kind == "dialogue" and e.speaker and not is_narrator(e.speaker)))
    names = sorted(speakers, key=len, reverse=True)       # "MR. STEEL" before "STEEL"
    cast_by_scene = _cast_by_scene(script.elements, names)

    shots: list[Shot] = []
    scene, scene_index, first_in_scene = "", 0, True
    fields = SceneLine("", "", "")
    pending_transition, pending_sfx = "cut", ""
    elements = script.elements
    for index, element in enumerate(elements):
        if progress is not None and index % 50 == 0:
            progress(index / max(1, len(elements)), "planning shots")
        kind = element.kind
        if kind == "scene":
            scene, first_in_scene = element.text, True
            fields = scene_fields(scene)
            scene_index += 1
            continue
        if kind == "transition":
            pending_transition = transition_kind(element.text)
            continue
        if kind == "sfx":
            if shots and shots[-1].scene == scene and not shots[-1].sfx:
                shots[-1].sfx = element.text
            else:
                pending_sfx = element.text
            continue
        if kind not in ("action", "dialogue", "centered"):
            continue
        if kind == "dialogue" and element.dual and shots and shots[-1].kind == "dialogue":
            _join_dual_dialogue(shots[-1], element, language=language, options=options)
            continue
        shot = _shot_for(element, number=len(shots) + 1, scene=scene, first_in_scene=first_in_scene,
                         names=names, cast=cast_by_scene.get(scene_index, []), language=language, options=options)
        shot.transition = pending_transition
        shot.int_ext, shot.time_of_day = fields.int_ext, fields.time_of_day
        if pending_sfx and not shot.sfx:
            shot.sfx = pending_sfx
        pending_transition, pending_sfx, first_in_scene = "cut", "", False
        shot.validate()
        shots.append(shot)
    if not shots:
        raise ValueError("the script has scene headings but no action or dialogue to make shots from; add at "
                         "least one line of action or dialogue")
    texts = [e.text for e in elements if e.kind == "action"]
    bible = build_bible(speakers, existing=existing.characters if existing else None, texts=texts)
    if progress is not None:
        progress(1.0, f"{len(shots)} shots planned")
    return Storyboard(title=script.title, language=language, shots=shots, characters=bible)


def _join_dual_dialogue(previous: Shot, element: Element, *, language: str, options: PlanOptions) -> None:
    """The second voice of a dual dialogue joins the shot before it: both speakers in frame (an MCU widens
    to an MS unless a hint says otherwise), held as long as the longer line."""
    previous.dual_speaker, previous.dual_dialogue = element.speaker, element.text
    previous.characters = list(dict.fromkeys(previous.characters + [element.speaker]))
    previous.size = size_from_hints(element.hints) or ("MS" if previous.size == "MCU" else previous.size)
    previous.duration_s = max(previous.duration_s,
                              dialogue_duration_s(element.text, language=language, options=options))


def _cast_by_scene(elements: list[Element], names: list[str]) -> dict[int, list[str]]:
    cast: dict[int, list[str]] = {}
    scene_index = 0
    for element in elements:
        if element.kind == "scene":
            scene_index += 1
            continue
        people = cast.setdefault(scene_index, [])
        # who is there: speakers, and names the action mentions (a name in dialogue may be someone absent)
        found = [element.speaker] if element.speaker else []
        if element.kind == "action":
            found += mentioned(element.text, names)
        for name in found:
            if name not in people:
                people.append(name)
    return cast


def _shot_for(element: Element, *, number: int, scene: str, first_in_scene: bool, names: list[str],
              cast: list[str], language: str, options: PlanOptions) -> Shot:
    hints = element.hints
    size = size_from_hints(hints)
    move = move_from_hints(hints)
    notes = "; ".join(element.notes)
    if element.kind == "centered":
        return Shot(number=number, scene=scene, size=size or "WS", move=move or "static",
                    duration_s=_clamp(options.title_duration_s, options), action=element.text, notes=notes,
                    kind="title", source_line=element.line)
    if element.kind == "dialogue" and is_narrator(element.speaker):
        # narration is heard, not seen: a caption over whoever the text names, no figure for the narrator
        return Shot(number=number, scene=scene, size=size or ("EWS" if first_in_scene and is_exterior(scene)
                                                              else "WS" if first_in_scene else "MS"),
                    move=move or "static",
                    duration_s=dialogue_duration_s(element.text, language=language, options=options),
                    characters=mentioned(element.text, names), speaker=element.speaker, dialogue=element.text,
                    parenthetical=element.parenthetical, extension=element.extension, notes=notes,
                    kind="dialogue", source_line=element.line)
    if element.kind == "dialogue":
        characters = list(dict.fromkeys([element.speaker] + mentioned(element.parenthetical, names)))
        return Shot(number=number, scene=scene, size=size or "MCU", move=move or "static",
                    duration_s=dialogue_duration_s(element.text, language=language, options=options),
                    characters=characters, speaker=element.speaker, dialogue=element.text,
                    parenthetical=element.parenthetical, extension=element.extension, notes=notes,
                    kind="dialogue", source_line=element.line)
    text = element.text
    characters = mentioned(text, names)
    low = f" {text.lower()} "
    if any(word in text or word in low for word in _GROUP_WORDS):
        characters = list(dict.fromkeys(characters + cast))
    if size is None:
        if first_in_scene:
            size = "EWS" if is_exterior(scene) else "WS"
        else:
            size = "MS"
    if move is None:
        move = "static"
        for candidate, words in _MOVE_WORDS:
            if any(w in text for w in words):
                move = candidate
                break
    return Shot(number=number, scene=scene, size=size, move=move,
                duration_s=action_duration_s(text, language=language, options=options), characters=characters,
                action=text, notes=notes, sfx=sfx_in(text), kind="action", source_line=element.line)


# ------------------------------------------------------------------------------------------------
# the editable table and the CSV export
# ------------------------------------------------------------------------------------------------

SHOT_HEADERS = ["#", "scene", "size", "move", "duration_s", "characters", "speaker", "dialogue", "parenthetical",
                "action", "transition", "sfx", "notes", "int_ext", "time_of_day"]


def shots_to_rows(board: Storyboard) -> list[list[Any]]:
    """The shot list as table rows in SHOT_HEADERS order (characters joined with ``", "``)."""
    return [[s.number, s.scene, s.size, s.move, s.duration_s, ", ".join(s.characters), s.speaker, s.dialogue,
             s.parenthetical, s.action, s.transition, s.sfx, s.notes, s.int_ext, s.time_of_day] for s in board.shots]


def _scene_cells(values: dict[str, Any], base: Shot, scene: str, label: str) -> tuple[str, str]:
    """INT/EXT and time of day from the row: as typed, else read again from a scene cell the user changed."""
    int_ext = _text(values.get("int_ext")).upper().replace(".", "")
    time_of_day = _text(values.get("time_of_day")).lower()
    if scene != base.scene and (int_ext, time_of_day) == (base.int_ext, base.time_of_day):
        fields = scene_fields(scene)
        return fields.int_ext, fields.time_of_day
    if int_ext not in INT_EXT:
        raise ValueError(f"{label}: int_ext {values.get('int_ext')!r} is not INT, EXT, INT/EXT or empty")
    if time_of_day not in TIMES_OF_DAY:
        raise ValueError(f"{label}: time_of_day {values.get('time_of_day')!r} is not one of "
                         f"{', '.join(t for t in TIMES_OF_DAY if t)} or empty")
    return int_ext, time_of_day


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def apply_shot_rows(board: Storyboard, rows: Iterable[Iterable[Any]]) -> Storyboard:
    """A copy of ``board`` with the shots read back from edited table rows.

    Rows are matched to shots by position; fields the table does not show (kind, dual dialogue, source line)
    are kept from the shot in the same position. Shots are renumbered 1..N. Raises ValueError naming the
    row and column that is wrong (an unknown size or move, a duration that is not a positive number).
    """
    old = list(board.shots)
    shots: list[Shot] = []
    for index, row in enumerate(rows):
        row = list(row)
        if not any(_text(v) for v in row):
            continue
        given = len(row)
        if len(row) < len(SHOT_HEADERS):
            row += [""] * (len(SHOT_HEADERS) - len(row))
        values = dict(zip(SHOT_HEADERS, row))
        label = f"shot row {index + 1}"
        size = _text(values["size"]).upper() or "MS"
        if size not in SHOT_SIZES:
            raise ValueError(f"{label}: size {values['size']!r} is not one of {', '.join(SHOT_SIZES)}")
        move = _text(values["move"]).lower().replace(" ", "_").replace("-", "_") or "static"
        if move not in CAMERA_MOVES:
            raise ValueError(f"{label}: move {values['move']!r} is not one of {', '.join(CAMERA_MOVES)}")
        transition = _text(values["transition"]).lower() or "cut"
        if transition not in TRANSITIONS:
            raise ValueError(f"{label}: transition {values['transition']!r} is not one of {', '.join(TRANSITIONS)}")
        try:
            duration = float(_text(values["duration_s"]))
        except ValueError:
            raise ValueError(f"{label}: duration {values['duration_s']!r} is not a number of seconds") from None
        if not (math.isfinite(duration) and 0 < duration <= 600):
            raise ValueError(f"{label}: duration {duration} s must be above 0 and at most 600 s")
        characters = [c.strip() for c in re.split(r"[,，、]", _text(values["characters"])) if c.strip()]
        base = old[index] if index < len(old) else Shot(number=index + 1)
        if given <= SHOT_HEADERS.index("int_ext"):   # a row from a table without the scene-field columns
            values.update(int_ext=base.int_ext, time_of_day=base.time_of_day)
        int_ext, time_of_day = _scene_cells(values, base, _text(values["scene"]), label)
        shot = replace(base, number=len(shots) + 1, scene=_text(values["scene"]), size=size, move=move,
                       int_ext=int_ext, time_of_day=time_of_day,
                       duration_s=round(duration, 3), characters=characters, speaker=_text(values["speaker"]),
                       dialogue=_text(values["dialogue"]), parenthetical=_text(values["parenthetical"]),
                       action=_text(values["action"]), transition=transition, sfx=_text(values["sfx"]),
                       notes=_text(values["notes"]))
        if shot.speaker and shot.kind != "dialogue" and shot.dialogue:
            shot.kind = "dialogue"
        shots.append(shot)
    if not shots:
        raise ValueError("the shot list is empty; parse the script again or add a row")
    names = {n for s in shots for n in ([s.speaker] if s.speaker else []) + s.characters}
    characters = build_bible(list(board.characters) + sorted(names - set(board.characters)),
                             existing=board.characters)
    return Storyboard(title=board.title, language=board.language, shots=shots, characters=characters)


def shots_to_csv(board: Storyboard) -> str:
    """The shot list as CSV text (UTF-8, header row SHOT_HEADERS), for spreadsheets."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SHOT_HEADERS)
    writer.writerows(shots_to_rows(board))
    return buffer.getvalue()
