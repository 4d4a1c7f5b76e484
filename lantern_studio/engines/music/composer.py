"""The embedded festival composer: offline, rule-based, seeded, about a second for a minute of music.

Reads top to bottom as the story of a take:

1. :meth:`ComposerEngine.resolve` turns a request into *params*: the preset (named, or read from the
   prompt by :mod:`engines.music.prompt`), the prompt's overrides, the caller's explicit params, and for
   ``vary``/``continue`` the parent's params changed as the mode asks. Params are plain JSON and hold
   everything, seeds of every random stream included, so ``Take.params`` alone remakes the take bit for bit.
2. :func:`compose` writes the symbolic score (:mod:`engines.music.score`, :mod:`engines.music.arrange`).
3. :func:`render` synthesises every part (:mod:`engines.music.synth`), places it in stereo with a little
   reverb, mixes the stems with ``kernels.mix.mix`` and brings the mix to the loudness target under a
   true-peak ceiling. The stems are scaled by the same gain, so they still add up to the mix.
4. :func:`engines.music.midi.score_to_midi` writes the MIDI file.

Variation strength (0-1) decides what changes, in this order: ornaments (> 0), rhythm (>= 0.2), motif
development (>= 0.45), re-harmonisation and percussion (>= 0.65), then mode, tempo and the motif itself
(>= 0.85). "continue" keeps the motif, key, mode and parts and writes a new section that starts where the
parent ended (its last melody note, its final tempo).
"""

from __future__ import annotations

import copy
import time
import zlib
from typing import Any, Callable

import numpy as np

from lantern_studio.engines.jobs import cancel_requested
from lantern_studio.engines.music import arrange
from lantern_studio.engines.music.base import MAX_DURATION_S, Cancel, EngineStatus, GenerationRequest, Progress, Take
from lantern_studio.engines.music.midi import score_to_midi
from lantern_studio.engines.music.presets import ROLES, all_presets, load_preset
from lantern_studio.engines.music.prompt import read_prompt
from lantern_studio.engines.music.score import FORM_NAMES, FORMS as FORMS_BY_NAME, STREAMS, UNIT_BEATS, Part, Score, compose_melody, fit_form
from lantern_studio.engines.music.synth import INSTRUMENTS, TAIL_S, Synth, place
from lantern_studio.engines.music.theory import KEY_NAMES, MODES, Scale, beats_per_bar, check_mode, pitch_class

ENGINE_NAME = "composer"
SAMPLE_RATE = 48_000
TARGET_LUFS = -16.0
CEILING_DBTP = -1.0
STEP_RANGE = (-3, 7)
VARIATION_LEVELS = (("ornaments", 0.0), ("rhythm", 0.2), ("motif development", 0.45),
                    ("re-harmonisation", 0.65), ("mode, tempo and motif", 0.85))
PARAM_KEYS = ("preset", "mode", "key", "tempo_bpm", "meter", "form", "phrase_bars", "intro_bars", "accelerate",
              "melody_octave", "ornament_density", "passing_tones", "mood", "parts", "percussion", "duration_s",
              "seeds", "rhythm_variation", "start_step", "section", "target_lufs", "ceiling_dbtp", "cycles")


# --------------------------------------------------------------------------------------------
# params
# --------------------------------------------------------------------------------------------


def check_params(params: dict[str, Any], *, max_duration_s: float = MAX_DURATION_S) -> dict[str, Any]:
    """Validate resolved params; raise ValueError naming the bad value and what to use instead."""
    check_mode(params["mode"])
    pitch_class(params["key"])
    beats_per_bar(params["meter"])
    if params["form"] not in FORM_NAMES:
        raise ValueError(f"form {params['form']!r} is not one of {', '.join(FORM_NAMES)}")
    if not 40.0 <= float(params["tempo_bpm"]) <= 220.0:
        raise ValueError(f"tempo {params['tempo_bpm']} BPM is outside 40-220 BPM")
    if not 1.0 <= float(params["accelerate"]) <= 2.0:
        raise ValueError(f"accelerate x{params['accelerate']} is outside 1-2 (1 keeps the tempo steady)")
    if float(params["tempo_bpm"]) * float(params["accelerate"]) > 260.0:
        raise ValueError(f"accelerating x{float(params['accelerate']):g} from {float(params['tempo_bpm']):g} BPM would end "
                         "above 260 BPM; start slower or accelerate less")
    if not 0 < float(params["duration_s"]) <= max_duration_s:
        raise ValueError(f"duration {params['duration_s']:g} s is outside 0-{max_duration_s:g} s; choose a shorter "
                         "duration (longer pieces can be built with 'continue')")
    if not 0.0 <= float(params["ornament_density"]) <= 1.0 or not 0.0 <= float(params["rhythm_variation"]) <= 1.0:
        raise ValueError("ornament_density and rhythm_variation must be between 0 and 1")
    if not params["parts"] or sum(p["role"] == "melody" for p in params["parts"]) != 1:
        raise ValueError("a piece needs exactly one melody part; add one to 'parts'")
    for part in params["parts"]:
        if part.get("role") not in ROLES or part.get("instrument") not in INSTRUMENTS:
            raise ValueError(f"part {part.get('name')!r}: role must be one of {', '.join(ROLES)} and instrument one "
                             f"of {', '.join(INSTRUMENTS)}")
    names = [part.get("name") for part in params["parts"]]
    if len(set(names)) != len(names) or not all(names):
        raise ValueError(f"part names {names} must be present and distinct (they name the stems)")
    if params.get("cycles") is not None and (not isinstance(params["cycles"], (int, np.integer))
                                             or not 1 <= params["cycles"] <= 64):
        raise ValueError(f"cycles {params['cycles']!r} must be a whole number from 1 to 64 (or null to fit the "
                         "duration)")
    for key, lo, hi in (("phrase_bars", 1, 16), ("intro_bars", 0, 8), ("melody_octave", 3, 6)):
        if not isinstance(params[key], (int, np.integer)) or not lo <= params[key] <= hi:
            raise ValueError(f"{key} {params[key]!r} must be a whole number from {lo} to {hi}")
    missing = [s for s in STREAMS if s not in params["seeds"]]
    if missing:
        raise ValueError(f"params.seeds lacks {', '.join(missing)}")
    return params


def derive_seed(seed: int, salt: str, stream_name: str) -> int:
    """The seed of one random stream: the take's seed mixed with the preset (so two presets with the same
    seed do not share a motif) and the stream's name."""
    return int((int(seed) * 1_000_003 + zlib.crc32(f"{salt}/{stream_name}".encode())) % (2**31 - 1))


def preset_params(preset: dict, *, seed: int, duration_s: float) -> dict[str, Any]:
    return {
        "preset": preset["id"], "mode": preset["mode"], "key": preset["key"], "tempo_bpm": float(preset["tempo_bpm"]),
        "meter": preset["meter"], "form": preset["form"], "phrase_bars": int(preset["phrase_bars"]),
        "intro_bars": int(preset["intro_bars"]), "accelerate": float(preset.get("accelerate", 1.0)),
        "melody_octave": int(preset.get("melody_octave", 5)),
        "ornament_density": float(preset.get("ornament_density", 0.4)),
        "passing_tones": bool(preset.get("passing_tones", False)), "mood": preset.get("mood", ""),
        "parts": copy.deepcopy(preset["parts"]), "percussion": copy.deepcopy(preset["percussion"]),
        "duration_s": float(duration_s), "seeds": {name: derive_seed(seed, preset["id"], name) for name in STREAMS},
        "rhythm_variation": 0.0, "start_step": None, "section": 0, "cycles": None,
        "target_lufs": TARGET_LUFS, "ceiling_dbtp": CEILING_DBTP,
    }


def vary_params(parent: dict[str, Any], *, strength: float, seed: int) -> tuple[dict[str, Any], list[str]]:
    """A variation's params: the parent's, with the aspects ``strength`` reaches re-seeded or changed."""
    params = copy.deepcopy(parent)
    seeds = params["seeds"]
    changed = []

    def fresh(name: str) -> int:
        return derive_seed(seed, f"{parent['preset']}/vary", name)

    if strength > 0.0:
        seeds["ornament"] = fresh("ornament")
        changed.append("ornaments")
    if strength >= 0.2:
        seeds["rhythm"] = fresh("rhythm")
        params["rhythm_variation"] = max(float(params["rhythm_variation"]), min(1.0, 0.2 + 0.6 * strength))
        changed.append("rhythm")
    if strength >= 0.45:
        seeds["development"] = fresh("development")
        changed.append("motif development")
    if strength >= 0.65:
        seeds["harmony"] = fresh("harmony")
        seeds["percussion"] = fresh("percussion")
        changed.append("harmony")
    if strength >= 0.85:
        rng = np.random.default_rng([seed & 0xFFFFFFFF, 99])
        others = [m for m in MODES if m != params["mode"]]
        params["mode"] = others[int(rng.integers(len(others)))]
        factor = float(rng.choice([0.88, 0.92, 1.08, 1.12]))
        params["tempo_bpm"] = float(np.clip(round(params["tempo_bpm"] * factor), 40, 220))
        seeds["motif"] = fresh("motif")
        changed.append(f"mode ({params['mode']}), tempo ({params['tempo_bpm']:g} BPM) and motif")
    return params, changed


# --------------------------------------------------------------------------------------------
# composition
# --------------------------------------------------------------------------------------------


def compose(params: dict[str, Any]) -> Score:
    """The symbolic score for resolved ``params`` (deterministic)."""
    seeds = params["seeds"]
    bpb = beats_per_bar(params["meter"])
    scale = Scale.make(params["mode"], params["key"], octave=int(params["melody_octave"]))
    if params.get("cycles"):
        # the bar count asked for directly: intro + cycles x phrases x phrase_bars (duration_s is ignored)
        cycles, phrase_bars, intro_bars = int(params["cycles"]), int(params["phrase_bars"]), int(params["intro_bars"])
        if (phrase_bars * bpb) % UNIT_BEATS:
            raise ValueError(f"phrase_bars {phrase_bars} in {params['meter']} is not a whole number of four-beat "
                             f"units; use a multiple of {UNIT_BEATS // bpb}")
    else:
        music_s = max(1.0, float(params["duration_s"]) - TAIL_S)
        cycles, phrase_bars, intro_bars = fit_form(
            duration_s=music_s, tempo_bpm=float(params["tempo_bpm"]), beats_per_bar=bpb, form=params["form"],
            phrase_bars=int(params["phrase_bars"]), intro_bars=int(params["intro_bars"]),
            accelerate=float(params["accelerate"]))
    melody_spec = next(p for p in params["parts"] if p["role"] == "melody")
    notes, phrases, motif, last_step = compose_melody(
        scale=scale, beats_per_bar=bpb, form=params["form"], cycles=cycles, phrase_bars=phrase_bars,
        intro_bars=intro_bars, seeds=seeds, rhythm_variation=float(params["rhythm_variation"]),
        ornament_density=float(params["ornament_density"]), passing_tones=bool(params["passing_tones"]),
        instrument=melody_spec["instrument"], start_step=params.get("start_step"), step_range=STEP_RANGE)
    bars = intro_bars + len(phrases) * phrase_bars
    shortest_s = len(FORMS_BY_NAME[params["form"]]) * 4 * 60.0 / float(params["tempo_bpm"]) + TAIL_S
    asked_s = float(params["duration_s"])
    if not params.get("cycles") and shortest_s > max(1.5 * asked_s, asked_s + 4.0):
        raise ValueError(f"{asked_s:g} s is too short for a whole {FORM_NAMES[params['form']]} at "
                         f"{float(params['tempo_bpm']):g} BPM: the shortest piece is {shortest_s:.1f} s. Ask for at "
                         "least that, or a faster tempo")
    score = Score(scale=scale, meter=params["meter"], beats_per_bar=bpb, bars=bars, intro_bars=intro_bars,
                  tempo_bpm=arrange.tempo_map(bars=bars, tempo_bpm=float(params["tempo_bpm"]),
                                              accelerate=float(params["accelerate"])),
                  phrases=phrases, motif=motif, last_step=last_step)
    percussion_roles = {p["role"] for p in params["parts"] if p["role"] in arrange.PERCUSSION_ROLES}
    hits = arrange.percussion(score, params["percussion"], percussion_roles, seed=seeds["percussion"])
    for spec in params["parts"]:
        part = Part(name=spec["name"], role=spec["role"], instrument=spec["instrument"],
                    pan=float(spec.get("pan", 0.0)), gain_db=float(spec.get("gain_db", 0.0)),
                    reverb=float(spec.get("reverb", 0.15)), percussion=spec["role"] in arrange.PERCUSSION_ROLES)
        shift = int(spec.get("octave_shift", -1))
        if spec["role"] == "melody":
            part.notes = notes
        elif spec["role"] == "drone":
            part.notes = arrange.drone(score, octave_shift=shift, seed=seeds["harmony"])
        elif spec["role"] == "heterophony":
            part.notes = arrange.heterophony(score, notes, octave_shift=shift, seed=seeds["harmony"])
        elif spec["role"] == "harmony":
            part.notes = arrange.harmony(score, notes, octave_shift=shift)
        elif spec["role"] == "ostinato":
            part.notes = arrange.ostinato(score, octave_shift=shift, seed=seeds["harmony"])
        else:
            part.notes = hits.get(spec["role"], [])
        score.parts.append(part)
    return score


# --------------------------------------------------------------------------------------------
# sound
# --------------------------------------------------------------------------------------------


def mix_stems(stems: list[np.ndarray], *, sample_rate: int) -> np.ndarray:
    """(n, 2) float32 sum of placed stereo stems, through the mix kernel."""
    from lantern_studio.kernels.mix import Stem, mix

    return mix([Stem(stem) for stem in stems], sample_rate=sample_rate)


def render(score: Score, params: dict[str, Any], *, sample_rate: int = SAMPLE_RATE,
           progress: Progress | None = None, cancel: Cancel | None = None
           ) -> tuple[np.ndarray, dict[str, np.ndarray], float] | None:
    """Synthesise a score into a mastered mix and its stems.

    Parameters
    ----------
    score : Score
        From :func:`compose`.
    params : dict
        The take's params (seeds, loudness target and ceiling).
    sample_rate : int
        Hz.
    progress, cancel : callable, optional
        ``progress(fraction, message)``; ``cancel()`` is checked before every part.

    Returns
    -------
    (mix, stems, lufs) or None
        ``mix`` float32 (n, 2) with n = (score duration + 2.5 s ring-out) x sample_rate, at the target
        loudness with true peaks under the ceiling; ``stems`` part name -> float32 (n, 2), which add up to the
        mix; ``lufs`` the measured integrated loudness. None when cancelled.
    """
    from lantern_studio.engines.music import loudness

    synth = Synth(sample_rate=sample_rate, seed=params["seeds"]["sound"])
    n = int(round((score.duration_s + TAIL_S) * sample_rate))
    stems: dict[str, np.ndarray] = {}
    for i, part in enumerate(score.parts):
        if cancel_requested(cancel):
            return None
        if progress:
            progress(0.1 + 0.7 * i / len(score.parts), f"synthesising {part.name} ({part.instrument})")
        dry = synth.render_part(part, score, n)
        dry *= np.float32(10.0 ** (part.gain_db / 20.0))
        stems[part.name] = place(dry, pan=part.pan, reverb=part.reverb, sample_rate=sample_rate)
    if progress:
        progress(0.85, "mixing and bringing to loudness")
    mix = mix_stems(list(stems.values()), sample_rate=sample_rate)
    fade = int(0.5 * sample_rate)
    ramp = np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    mix[-fade:] *= ramp
    for stem in stems.values():
        stem[-fade:] *= ramp
    mastered, gain, lufs = loudness.master(mix, sample_rate=sample_rate, target_lufs=float(params["target_lufs"]),
                                           ceiling_dbtp=float(params["ceiling_dbtp"]))
    # the stems get the master's per-frame gain (loudness and limiting), so they add up to the mix
    for name in stems:
        stems[name] *= gain[:, None]
    peak = max(float(np.max(np.abs(stem))) for stem in stems.values())
    ceiling = 10.0 ** (float(params["ceiling_dbtp"]) / 20.0)
    if peak > ceiling:
        # a stem can peak above the mix where other stems cancel it: lower all stems together (they then
        # add up to the mix times this factor) rather than clip one
        for name in stems:
            stems[name] *= np.float32(ceiling / peak)
    return mastered, stems, lufs


# --------------------------------------------------------------------------------------------
# the engine
# --------------------------------------------------------------------------------------------


class ComposerEngine:
    """The embedded rule-based festival composer (no weights, no network).

    Parameters
    ----------
    sample_rate : int
        Output rate in Hz (48000).
    max_duration_s : float
        Longest take it will make.
    """

    name = ENGINE_NAME

    def __init__(self, *, sample_rate: int = SAMPLE_RATE, max_duration_s: float = MAX_DURATION_S):
        if sample_rate not in (44_100, 48_000):
            raise ValueError(f"sample rate {sample_rate} is not 44100 or 48000 Hz")
        self.sample_rate = sample_rate
        self.max_duration_s = float(max_duration_s)

    def available(self) -> EngineStatus:
        try:
            presets = all_presets()
        except (OSError, ValueError) as error:
            return EngineStatus(False, f"the composer's presets could not be read ({error}); reinstall the studio")
        return EngineStatus(True, f"embedded composer ready: {len(presets)} presets, no model weights needed")

    # --------------------------------------------------------------------------------------------
    def resolve(self, request: GenerationRequest, seed: int) -> tuple[dict[str, Any], str]:
        """Params for one take of ``request`` with ``seed``, and a line saying what the prompt meant."""
        understood = ""
        if request.mode in ("vary", "continue"):
            parent = request.parent
            if parent.engine != self.name or "seeds" not in parent.params:
                raise ValueError(f"take {parent.name or parent.id} was made by {parent.engine}; the composer can "
                                 "only vary or continue its own takes")
            base = copy.deepcopy(parent.params)
            if request.mode == "vary":
                params, changed = vary_params(base, strength=float(request.variation_strength), seed=seed)
                # as long as the take it varies (a short request may have made a longer whole form)
                params["duration_s"] = max(float(params["duration_s"]), round(float(parent.duration_s), 3))
                understood = (f"variation of {parent.name or parent.id} at strength {request.variation_strength:g}: "
                              f"changed {', '.join(changed) or 'nothing'}")
            else:
                parent_score = compose(base)
                step, tempo, where = continuation_point(parent_score, request.region_s)
                params = base
                for name in ("development", "rhythm", "ornament", "harmony", "percussion", "sound"):
                    params["seeds"][name] = derive_seed(seed, f"{base['preset']}/continue", name)
                params["start_step"] = int(step)
                params["tempo_bpm"] = float(round(min(tempo, 220.0), 3))
                params["accelerate"] = 1.0
                params["intro_bars"] = 0
                params["cycles"] = None
                params["section"] = int(base.get("section", 0)) + 1
                params["duration_s"] = float(request.duration_s)
                understood = (f"continues {parent.name or parent.id} from {where} "
                              f"({KEY_NAMES[parent_score.scale.midi(step) % 12]}) at {params['tempo_bpm']:g} BPM")
            params.update({k: copy.deepcopy(v) for k, v in request.params.items() if k in PARAM_KEYS})
        else:
            overrides: dict[str, Any] = {}
            if request.preset:
                preset = load_preset(request.preset)
                if request.prompt.strip():
                    reading = read_prompt(request.prompt, preset=preset["id"])
                    overrides = reading.overrides
                    understood = reading.summary()
            elif request.prompt.strip():
                reading = read_prompt(request.prompt)
                preset = load_preset(reading.preset)
                overrides = reading.overrides
                understood = reading.summary()
            elif request.params.get("preset"):
                preset = load_preset(request.params["preset"])
            else:
                raise ValueError("the prompt is empty and no preset is chosen; describe the tune (e.g. "
                                 "'舞狮，越来越快' or 'gentle Mid-Autumn night') or pick a preset")
            params = preset_params(preset, seed=seed, duration_s=request.duration_s)
            params.update(overrides)
            if "duration_s" in overrides and "duration_s" not in request.params:
                params["duration_s"] = float(overrides["duration_s"])
            unknown = sorted(set(request.params) - set(PARAM_KEYS) - {"understood", "variation"})
            if unknown:
                raise ValueError(f"unknown composer params {', '.join(unknown)}; the composer takes "
                                 f"{', '.join(PARAM_KEYS)}")
            params.update({k: copy.deepcopy(v) for k, v in request.params.items() if k in PARAM_KEYS})
        params.setdefault("mood", "")
        check_params(params, max_duration_s=self.max_duration_s)
        return params, understood

    # --------------------------------------------------------------------------------------------
    def generate(self, request: GenerationRequest, *, progress: Progress | None = None,
                 cancel: Cancel | None = None, on_take: Callable[[Take], None] | None = None) -> list[Take]:
        """Make ``request.takes`` takes (see :class:`engines.music.base.MusicEngine`).

        Raises
        ------
        ValueError
            For an unknown preset, an empty prompt with no preset, a duration beyond the limit, a parent take
            the composer did not make, or malformed params; the message says what to change.
        """
        request.validate(max_duration_s=self.max_duration_s)
        if request.mode == "extend":
            raise ValueError("the composer makes whole pieces of any length up to "
                             f"{self.max_duration_s:g} s; use 'new' with a longer duration or 'continue'")
        if request.melody is not None:
            raise ValueError("the composer writes its own melody; melody conditioning needs the MusicGen engine")
        takes: list[Take] = []
        seeds = request.seeds()
        for index, seed in enumerate(seeds):
            if cancel_requested(cancel):
                break
            start = time.perf_counter()

            def step(fraction: float, message: str, _i=index) -> None:
                if progress is not None:
                    progress((_i + fraction) / len(seeds), f"take {_i + 1}/{len(seeds)}: {message}")

            step(0.0, "composing")
            params, understood = self.resolve(request, seed)
            score = compose(params)
            rendered = render(score, params, sample_rate=self.sample_rate, progress=step, cancel=cancel)
            if rendered is None:
                break
            audio, stems, lufs = rendered
            midi = score_to_midi(score)
            parent = request.parent if request.mode in ("vary", "continue") else None
            if understood:
                params["understood"] = understood
            if request.mode == "vary":
                params["variation"] = {"parent_id": parent.id, "strength": float(request.variation_strength)}
            take = Take(engine=self.name, seed=int(seed), sample_rate=self.sample_rate, audio=audio,
                        prompt=request.prompt, preset=params["preset"], model=None, params=params,
                        parent_id=parent.id if parent else None, relation=request.mode if parent else None,
                        device="cpu", generation_s=time.perf_counter() - start, stems=stems, midi=midi,
                        summary=describe(score, params, understood), loudness_lufs=lufs)
            take.name = take_name(params, seed, request.mode, parent)
            step(1.0, "done")
            takes.append(take)
            if on_take is not None:
                on_take(take)
        return takes

    def reproduce(self, recipe: dict[str, Any]) -> Take:
        """Make a take again from its recipe (``Take.recipe()`` or the exported JSON)."""
        return self.generate(request_from_recipe(recipe))[0]


def request_from_recipe(recipe: dict[str, Any]) -> GenerationRequest:
    """A request that remakes the take a recipe describes (its params hold every decision and seed)."""
    if recipe.get("engine") != ENGINE_NAME:
        raise ValueError(f"this recipe was made by {recipe.get('engine')!r}, not the composer")
    params = {k: v for k, v in recipe["params"].items() if k in PARAM_KEYS}
    return GenerationRequest(prompt="", preset=recipe.get("preset"), duration_s=float(params["duration_s"]),
                             seed=int(recipe["seed"]), takes=1, params=params)


def continuation_point(score: Score, region_s: tuple[float, float] | None) -> tuple[int, float, str]:
    """Where a continuation starts: (melody scale step, tempo BPM, description). The end of the take, or
    the end of ``region_s`` (seconds) when a region is given: the melody note sounding there."""
    if region_s is None:
        return score.last_step, float(score.tempo_bpm[-1]), "its last note"
    end_s = float(region_s[1])
    if not 0.0 < end_s <= score.duration_s + 1e-6:
        raise ValueError(f"the region ends at {end_s:g} s, outside the take's music (0-{score.duration_s:.1f} s); "
                         "choose a region inside the take")
    starts = score.bar_starts_s()
    bar = int(np.clip(np.searchsorted(starts, end_s, side="right") - 1, 0, score.bars - 1))
    beat = bar * score.beats_per_bar + (end_s - starts[bar]) * score.tempo_bpm[bar] / 60.0
    notes = score.melody.notes
    sounding = [n for n in notes if n.start_beat <= beat + 1e-9 and not n.passing] or notes[:1]
    step = score.scale.step_of_midi(sounding[-1].midi)
    return int(step), float(score.tempo_bpm[bar]), f"{end_s:g} s"


def take_name(params: dict[str, Any], seed: int, mode: str, parent: Take | None) -> str:
    if parent is not None and mode == "vary":
        return f"{parent.name or parent.id} var s{seed}"
    if parent is not None and mode == "continue":
        return f"{parent.name or parent.id} cont {params['section']}"
    return f"{params['preset']} s{seed}"


def describe(score: Score, params: dict[str, Any], understood: str) -> str:
    """What was made, in a few lines for the user: preset, mode and key, meter, tempo, form, parts."""
    preset = load_preset(params["preset"])
    first, last = float(score.tempo_bpm[0]), float(score.tempo_bpm[-1])
    tempo = f"{first:g} BPM" if first == last else f"{first:.0f}->{last:.0f} BPM (accelerating)"
    parts = ", ".join(f"{p.name} {p.instrument.replace('_', ' ')}" for p in score.parts)
    cycles = len(score.phrases) // len(FORMS_BY_NAME[params["form"]])
    lines = [f"{preset['name']} ({preset['name_zh']}): {score.scale.describe()}, {score.meter}, {tempo}",
             f"form {FORM_NAMES[params['form']]} x{cycles}: {len(score.phrases)} phrases of {score.phrases[0].bars} "
             f"bars" + (f" after a {score.intro_bars}-bar intro" if score.intro_bars else "")
             + f", {score.bars} bars, {score.duration_s:.1f} s + {TAIL_S:g} s ring-out",
             f"parts: {parts}"]
    if understood:
        lines.append(f"understood: {understood}")
    return "\n".join(lines)
