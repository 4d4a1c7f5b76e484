"""Standard MIDI File writing with mido: one track per part, General MIDI programs, tempo map and key.

Track 0 holds the tempo (a ``set_tempo`` at every bar whose tempo changes), the time signature, the key
signature (the major key on the mode's 宫 note, which names the pitch collection; the mode and final are
in a marker text) and the form's phrase labels as markers. Each part is its own track and channel; the
percussion parts share channel 10 (index 9) as General MIDI requires. Grace notes are written as short
notes just before the beat; tremolo and slides are left as the written note plus a text event, so the
notes a DAW shows are the notes of the score.
"""

from __future__ import annotations

import io

import mido
import numpy as np

from lantern_studio.engines.music.score import Score
from lantern_studio.engines.music.theory import KEY_NAMES, key_signature

TICKS_PER_BEAT = 480
GRACE_BEATS = 0.125
#: General MIDI programs (0-based) for the studio's instruments
GM_PROGRAMS = {"guzheng": 107, "pipa": 106, "dizi": 73, "suona": 111, "erhu": 110}
GM_PROGRAM_NAMES = {107: "Koto", 106: "Shamisen", 73: "Flute", 111: "Shanai", 110: "Fiddle"}
PERCUSSION_CHANNEL = 9
#: MIDI text is Latin-1: phrase labels are written in pinyin
LABELS_ASCII = {"起": "qi (statement)", "承": "cheng (continuation)", "转": "zhuan (turn)", "合": "he (close)"}


def _note(kind: str, channel: int, note: int, velocity: int) -> mido.Message:
    """A note message; values are range-checked here once, so mido's per-message checks are skipped."""
    if not (0 <= note <= 127 and 0 <= velocity <= 127):
        raise ValueError(f"MIDI note {note} / velocity {velocity} is outside 0-127")
    return mido.Message(kind, skip_checks=True, channel=channel, note=int(note), velocity=int(velocity), time=0)


def _ticks(beats: float) -> int:
    return int(round(beats * TICKS_PER_BEAT))


def score_to_midi(score: Score) -> bytes:
    """The score as Standard MIDI File (type 1) bytes: a conductor track (tempo map, 4/4 or 2/4, key
    signature, mode and phrase markers) and one track per part at 480 ticks per beat."""
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor = mido.MidiTrack()
    mid.tracks.append(conductor)
    conductor.append(mido.MetaMessage("track_name", name="Lantern Studio composer", time=0))
    numerator = score.beats_per_bar
    conductor.append(mido.MetaMessage("time_signature", numerator=numerator, denominator=4, time=0))
    conductor.append(mido.MetaMessage("key_signature", key=key_signature(score.scale), time=0))
    events = []
    last_tempo = None
    for bar, bpm in enumerate(score.tempo_bpm):
        tempo = mido.bpm2tempo(float(bpm))
        if tempo != last_tempo:
            events.append((_ticks(bar * score.beats_per_bar), 0, mido.MetaMessage("set_tempo", tempo=tempo)))
            last_tempo = tempo
    final = KEY_NAMES[score.scale.final_pc]
    events.append((0, 1, mido.MetaMessage("marker", text=f"mode {final} {score.scale.mode}")))
    for phrase in score.phrases:
        events.append((_ticks(phrase.start_bar * score.beats_per_bar), 1,
                       mido.MetaMessage("marker", text=f"phrase {LABELS_ASCII.get(phrase.label, phrase.label)}")))
    _append_sorted(conductor, events)

    channel = 0
    for part in score.parts:
        track = mido.MidiTrack()
        mid.tracks.append(track)
        track.append(mido.MetaMessage("track_name", name=f"{part.name} ({part.instrument})", time=0))
        if part.percussion:
            ch = PERCUSSION_CHANNEL
        else:
            ch = channel
            channel += 1
            if channel == PERCUSSION_CHANNEL:
                channel += 1
            track.append(mido.Message("program_change", channel=ch, program=GM_PROGRAMS[part.instrument], time=0))
            pan = int(np.clip(round(64 + 63 * part.pan), 0, 127))
            track.append(mido.Message("control_change", channel=ch, control=10, value=pan, time=0))
        events = []
        sounding_until: dict[int, int] = {}          # pitch -> tick its last note ends
        for note in part.notes:
            on, off = _ticks(note.start_beat), _ticks(note.end_beat)
            if off <= on:
                continue
            if note.ornament == "grace" and note.grace_midi is not None:
                g_on = max(0, on - _ticks(GRACE_BEATS))
                # a grace note on the pitch that is still sounding would overlap itself: it is left out
                if g_on < on and sounding_until.get(note.grace_midi, -1) <= g_on:
                    events.append((g_on, 1, _note("note_on", ch, note.grace_midi, max(1, note.velocity - 20))))
                    events.append((on, 0, _note("note_off", ch, note.grace_midi, 0)))
            elif note.ornament in ("tremolo", "slide"):
                events.append((on, 1, mido.MetaMessage("text", text=note.ornament)))
            if note.passing:
                events.append((on, 1, mido.MetaMessage("text", text=f"passing {note.passing}")))
            events.append((on, 2, _note("note_on", ch, note.midi, note.velocity)))
            events.append((off, 0, _note("note_off", ch, note.midi, 0)))
            sounding_until[note.midi] = max(off, sounding_until.get(note.midi, -1))
        _append_sorted(track, events)
    buffer = io.BytesIO()
    mid.save(file=buffer)
    return buffer.getvalue()


def _append_sorted(track: mido.MidiTrack, events) -> None:
    """Append (tick, order, message) events as delta times; note-offs sort before note-ons at one tick."""
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        if isinstance(message, mido.Message):
            message.time = tick - now          # a fresh message made for this event: set in place
        else:
            message = message.copy(time=tick - now)
        track.append(message)
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
