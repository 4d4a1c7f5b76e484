"""Music tab: generate takes, keep the good ones, vary and continue them, compare them on headphones.

The tab is a list of handlers: module-level functions of the studio context and their inputs (the first input
is always the window's project folder), which ``build_tab`` only lays out and wires (``ctx.bind``). Generating
and saving takes is ``engines.music.generate_take``; progress and Stop go through ``studio.job_progress``;
takes are kept by ``engines.music.takes.TakeStore`` and A/B previews made by ``engines.audio.preview``.
Every take is saved the moment the engine finishes it, so Stop keeps what is done.

The takes list follows the project on disk: a take another window writes shows up on this window's next check
(a timer that compares the takes folder's signature, one directory scan, and the tab's select).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pandas as pd

from lantern_studio.engines.audio import preview as preview_engine
from lantern_studio.engines.errors import UserInputError
from lantern_studio.engines.jobs import Cancelled
from lantern_studio.engines.music.base import MAX_DURATION_S, MAX_TAKES, GenerationRequest, Take
from lantern_studio.engines.music.generate_take import generate_takes, waveform_picture
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.studio import ab_player, engine_help
from lantern_studio.studio.context import GPU_JOBS, StudioContext, served_dir
from lantern_studio.studio.job_progress import StopFlags, gr_progress, stream_job
from lantern_studio.studio.messages import keep_outputs

ENGINES = ("composer", "musicgen")
SORTS = {"newest first": ("created", True), "oldest first": ("created", False), "best rated": ("rating", True),
         "starred first": ("starred", True)}
HEADERS = ["wave", "★", "name", "engine", "preset / prompt", "seed", "s", "LUFS", "parent", "notes", "created", "id"]
DATATYPES = ["markdown", "str", "str", "str", "str", "number", "number", "number", "str", "str", "str", "str"]
WIDTHS = ["150px", "44px", "170px", "90px", "150px", "70px", "56px", "60px", "110px", "120px", "100px", "80px"]
RECIPE_ONLY_KEYS = ("model", "understood", "variation")
MELODY_SOURCES = ("none", "uploaded file", "selected take's melody stem")
MELODY_STEM = "melody"
EXTEND_IS_MUSICGEN = ("Extend is a MusicGen action (one long piece grown from the take); this take is from the "
                      "{engine}. Use 'Continue (next section)' to write the section that follows it.")
LOOP_BOX_ID = "music-loop-region"
ACTIVE_BOX_ID = "music-ab-active"
HEARD_BOX_ID = "music-ab-heard"
# the selected take's row, in the list's own styling (it survives every re-render of the list); the colour is
# the lantern red of the waveforms, the one the clicked-cell CSS in ``app.CSS`` uses
SELECTED_ROW_STYLE = "background-color: rgba(226, 87, 60, 0.16); font-weight: 600"
# how often a window checks whether the takes folder changed (another window added or removed a take)
TAKES_POLL_S = 3.0
STOPS = StopFlags()          # one Stop flag per browser window for this tab's generation jobs


# ------------------------------------------------------------------------------------------------
# engines (built lazily, once per studio)
# ------------------------------------------------------------------------------------------------

def _engine(ctx: StudioContext, name: str):
    cache = ctx.shared.setdefault("_music_engines", {})
    if name in cache:
        return cache[name]
    if name == "composer":
        from lantern_studio.engines.music.composer import ComposerEngine
        engine = ComposerEngine()
    elif name == "musicgen":
        from lantern_studio.engines.music.musicgen import MusicGenEngine
        engine = MusicGenEngine(ctx.settings.models_dir, device=ctx.settings.device)
    else:
        raise gr.Error(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    cache[name] = engine
    return engine


def _presets() -> tuple[list[tuple[str, str]], str | None]:
    """Composer presets as (label, id) choices, and the default one."""
    try:
        from lantern_studio.engines.music import presets
        found = presets.all_presets()
    except Exception:
        return [], None
    choices = [(f"{p.get('name', key)} · {p.get('name_zh', '')}".strip(" ·"), key) for key, p in sorted(found.items())]
    default = presets.DEFAULT_PRESET if presets.DEFAULT_PRESET in found else (choices[0][1] if choices else None)
    return choices, default


def _models(ctx: StudioContext) -> list[str]:
    try:
        engine = _engine(ctx, "musicgen")
        return [m if isinstance(m, str) else getattr(m, "name", str(m)) for m in engine.list_models()]
    except Exception:
        return []


def _engine_status(ctx: StudioContext, name: str) -> tuple[bool, str, str]:
    """(ready, one short Markdown line, the details to expand) for an engine."""
    try:
        status = _engine(ctx, name).available()
    except Exception as error:   # an engine that cannot even be built says why
        return False, engine_help.short_line(name, False, f"Not usable here: {error}"), \
            engine_help.details_markdown(str(error))
    return (bool(status.ready), engine_help.short_line(name, status.ready, status.message),
            engine_help.details_markdown(status.message))


def engine_controls(ready: bool, models: list[str], name: str) -> tuple[Any, Any, Any]:
    """Updates for (model dropdown, Generate, Generate with melody): MusicGen's actions are enabled only when
    it is ready and has a model to choose; the composer needs no model."""
    if name != "musicgen":
        return gr.update(choices=[], value=None), gr.update(interactive=True), gr.update(interactive=False)
    usable = bool(ready and models)
    return (gr.update(choices=models, value=models[0] if models else None), gr.update(interactive=usable),
            gr.update(interactive=usable))


# ------------------------------------------------------------------------------------------------
# takes list
# ------------------------------------------------------------------------------------------------

def _store(ctx: StudioContext) -> TakeStore:
    return TakeStore(ctx.project)


def _selected_take(ctx: StudioContext, take_id: str | None) -> Take:
    """The take selected in the list (with its audio), or a message saying to select one or why it fails."""
    if not take_id:
        raise gr.Error("Select a take in the list first")
    try:
        return _store(ctx).load(take_id)
    except Exception as error:
        raise gr.Error(f"That take cannot be loaded: {error}") from None


def _thumb_markdown(path: Path) -> str:
    """A small PNG inlined as a data URI, so the list needs no file serving."""
    return f"![waveform](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode('ascii')})"


def _describe(take: Take) -> str:
    what = take.preset or ""
    if take.prompt:
        what = f"{what}: {take.prompt}" if what else take.prompt
    if take.relation:
        what = f"{take.relation} · {what}"
    return what[:80]


def _rows(ctx: StudioContext, starred_only: bool, engine: str, text: str, sort: str) -> list[list[Any]]:
    key, descending = SORTS.get(sort, SORTS["newest first"])
    store = _store(ctx)
    takes = store.list(starred=True if starred_only else None,
                       engine=None if engine in (None, "", "all") else engine,
                       text=(text or "").strip() or None, sort=key, descending=descending)
    names = {take.id: take.name or take.id for take in takes}
    rows = []
    for take in takes:
        wave = waveform_picture(store, take.id, thumb=True)
        thumb = _thumb_markdown(wave) if wave else ""
        stars = ("★" if take.starred else "") + (str(take.rating) if take.rating else "")
        notes = (take.notes or "").strip().replace("\n", " ")
        rows.append([thumb, stars, take.name or take.id, take.engine, _describe(take),
                     take.seed, round(float(take.duration_s), 1) if take.audio is not None else None,
                     None if take.loudness_lufs is None else round(float(take.loudness_lufs), 1),
                     names.get(take.parent_id, take.parent_id) if take.parent_id else "",
                     notes[:40] + ("…" if len(notes) > 40 else ""), take.created.replace("T", " ")[5:16], take.id])
    # a take whose sidecar cannot be read stays visible (never hidden, never breaking the list) so it can be
    # selected and moved to the trash with Delete
    for take_id, why in store.skipped:
        rows.append(["", "", f"⚠ damaged: {take_id}", "", "select it, then Delete moves it to the trash", None, None,
                     None, "", why[:40] + ("…" if len(why) > 40 else ""), "", take_id])
    return rows


def takes_table(ctx: StudioContext, take_id: str | None, *filter_values) -> Any:
    """The takes list for the table: ``_rows`` with the selected take's row highlighted in the value's own
    styling, so the highlight survives every re-render (a pandas Styler, which ``gr.Dataframe`` shows)."""
    frame = pd.DataFrame(_rows(ctx, *filter_values), columns=HEADERS, dtype=object)

    def highlight(row: pd.Series) -> list[str]:
        return [SELECTED_ROW_STYLE if take_id and row["id"] == take_id else ""] * len(row)

    return frame.style.apply(highlight, axis=1).format(lambda value: "" if value is None else str(value))


def _pick_choices(ctx: StudioContext) -> list[tuple[str, str]]:
    return [(f"{'★ ' if t.starred else ''}{t.name or t.id} (seed {t.seed})", t.id)
            for t in _store(ctx).list(sort="created", descending=True)]


def _trash_choices(ctx: StudioContext) -> list[tuple[str, str]]:
    return [(f"{t.name or t.id} (seed {t.seed})", t.id) for t in _store(ctx).trashed()]


def _short_params(params: dict[str, Any], *, limit: int = 12) -> str:
    """The simple (scalar) parameters of a recipe, for reading; the full recipe is in the take's JSON."""
    simple = [f"{k}={v}" for k, v in sorted(dict(params).items())
              if isinstance(v, (str, int, float, bool)) and k not in RECIPE_ONLY_KEYS and len(str(v)) < 40]
    more = len(params) - len(simple)
    text = ", ".join(simple[:limit]) or "-"
    return f"`{text}`" + (f" (+{more + max(0, len(simple) - limit)} more in the recipe)" if more > 0 else "")


EXTEND_LABEL = "Extend"
EXTEND_NOT_HERE = "Extend (MusicGen takes only)"


def take_actions(engine: str | None, *, readable: bool = True) -> tuple:
    """Updates for the take actions (Rename, Save notes, Restore, Vary, Continue, Extend, Delete), in that order.

    Nothing is enabled until a take is selected (``engine`` None); a damaged take (``readable`` False) can only
    be deleted; Extend grows MusicGen takes only, and its label says so for any other take.
    """
    selected = engine is not None
    usable = selected and readable
    extend = usable and engine == "musicgen"
    return (*(gr.update(interactive=usable) for _ in range(5)),
            gr.update(interactive=extend, value=EXTEND_LABEL if extend or not usable else EXTEND_NOT_HERE),
            gr.update(interactive=selected))


def _star(label: str, enabled: bool):
    return gr.update(value=label, interactive=enabled)


def _detail(ctx: StudioContext, take_id: str | None):
    """Outputs for the selected-take panel: wave image, audio path, info, name, notes, rating, the star button
    and the take actions (``take_actions``)."""
    if not take_id:
        return None, None, "Select a take in the list.", "", "", 0, _star("☆ Star", False), *take_actions(None)
    store = _store(ctx)
    try:
        take = store.load(take_id, with_audio=False)
    except Exception as error:
        return (None, None, f"That take is damaged and cannot be read ({error}). Press **Delete** to move it to "
                "the project's trash.", "", "", 0, _star("☆ Star", False), *take_actions("?", readable=False))
    wave = waveform_picture(store, take_id)
    info = [f"**{take.name or take.id}** · {take.engine}" + (f" ({take.model})" if take.model else ""),
            f"seed `{take.seed}` · {float(take.duration_s):.1f} s · "
            + (f"{take.loudness_lufs:.1f} LUFS" if take.loudness_lufs is not None else "loudness not measured"),
            f"preset `{take.preset or '-'}` · prompt: {take.prompt or '-'}",
            "parameters " + _short_params(take.params)]
    if take.parent_id:
        info.append(f"{take.relation or 'child'} of `{take.parent_id}`")
    if take.summary:
        info.append(f"_{take.summary}_")
    info.append(f"created {take.created} · id `{take.id}`")
    audio_path = str(store.audio_path(take_id))
    return (str(wave) if wave else None, audio_path, "  \n".join(info), take.name, take.notes, int(take.rating),
            _star("★ Starred" if take.starred else "☆ Star", True), *take_actions(take.engine))


# ------------------------------------------------------------------------------------------------
# generation (new / vary / continue) with live updates and a Stop that keeps finished takes
# ------------------------------------------------------------------------------------------------

def _parse_params(text: str) -> dict[str, Any]:
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise gr.Error(f"Engine parameters must be JSON, e.g. {{\"tempo_bpm\": 120}} ({error})") from None
    if not isinstance(value, dict):
        raise gr.Error("Engine parameters must be a JSON object, e.g. {\"tempo_bpm\": 120}")
    return value


def _parse_region(text: str) -> tuple[float, float] | None:
    text = (text or "").strip().replace("–", "-").rstrip("s").strip()
    if not text:
        return None
    try:
        start, end = (float(part) for part in text.split("-", 1))
    except ValueError:
        raise gr.Error(f"Loop region {text!r} should look like 4.0-8.0 (seconds)") from None
    if not 0 <= start < end:
        raise gr.Error(f"Loop region {text!r}: the start must be before the end")
    return start, end


def request_from_controls(engine_name: str, preset_v: str | None, prompt_v: str | None, duration_v: float,
                          takes_v: int, seed_mode_v: str, seed_v: float | None, params_v: str,
                          model_v: str | None) -> GenerationRequest:
    """The generation request the controls describe (the order of ``controls`` in the tab)."""
    params_d = _parse_params(params_v)
    if engine_name == "musicgen" and model_v:
        params_d.setdefault("model", model_v)
    fixed = seed_mode_v == "fixed"
    if fixed and (seed_v is None or seed_v < 0):
        raise gr.Error("A fixed seed must be a whole number of 0 or more")
    return GenerationRequest(prompt=prompt_v or "", preset=preset_v or None, duration_s=float(duration_v),
                             seed=int(seed_v) if fixed else None, takes=int(takes_v), params=params_d)


def _accepted_params(engine_name: str) -> tuple[str, ...] | None:
    """The request params an engine takes (its recipe also records derived values it would refuse)."""
    try:
        if engine_name == "composer":
            from lantern_studio.engines.music.composer import PARAM_KEYS
            return tuple(PARAM_KEYS)
        if engine_name == "musicgen":
            from lantern_studio.engines.music.musicgen import PARAM_NAMES
            return tuple(PARAM_NAMES)
    except ImportError:
        return None
    return None


def restore_values(take: Take) -> tuple:
    """Control values that make ``take`` again ("restore these settings"), in the order of ``controls``.

    The recipe's params hold every decision and seed; what the engine reports back about itself
    (``RECIPE_ONLY_KEYS``) is dropped. One take, fixed seed.
    """
    accepted = _accepted_params(take.engine)
    params_d = {k: v for k, v in dict(take.params).items()
                if k not in RECIPE_ONLY_KEYS and (accepted is None or k in accepted)}
    engine_name = take.engine if take.engine in ENGINES else "composer"
    duration_v = min(max(float(params_d.get("duration_s", take.duration_s)), 2.0), 300.0)
    return (engine_name, take.preset, take.prompt, duration_v, 1, "fixed", int(take.seed),
            json.dumps(params_d, ensure_ascii=False), take.model or (take.params or {}).get("model"))


# ------------------------------------------------------------------------------------------------
# extend and melody (MusicGen)
# ------------------------------------------------------------------------------------------------

def extend_request(parent: Take, extend_to_s: float | None) -> GenerationRequest:
    """The long-form request that grows ``parent`` (a MusicGen take) to ``extend_to_s`` seconds.

    Raises ``gr.Error`` for a composer take (Continue writes its next section) or a length that is not longer.
    """
    if parent.engine != "musicgen":
        raise gr.Error(EXTEND_IS_MUSICGEN.format(engine=parent.engine))
    if extend_to_s is None:
        raise gr.Error("Type how long the extended piece should be, in seconds")
    target = float(extend_to_s)
    if not float(parent.duration_s) < target <= MAX_DURATION_S:
        raise gr.Error(f"Extend to {target:g} s: choose a length above this take's {float(parent.duration_s):.1f} s "
                       f"and at most {MAX_DURATION_S:g} s")
    return GenerationRequest(prompt=parent.prompt, preset=parent.preset, duration_s=target, seed=None, takes=1,
                             params={}, mode="extend", parent=parent)


def load_melody(ctx: StudioContext, source: str | None, upload_path: str | None,
                take_id: str | None) -> tuple[Any, int, str]:
    """The melody to condition on: (float32 (n,) or (n, 2) audio, sample rate in Hz, what it is, for messages).

    ``source`` is one of ``MELODY_SOURCES`` other than "none": an uploaded audio file (checked by its content
    with ``engines.safety.check_upload``) or the selected take's melody stem (composer takes have one).
    """
    if source == "uploaded file":
        if not upload_path:
            raise gr.Error("Upload an audio file with the melody first (WAV, FLAC, MP3 or Ogg)")
        from lantern_studio.engines.audio.io import read_audio
        from lantern_studio.engines.safety import check_upload
        try:
            check_upload(upload_path, kind="audio", name=Path(upload_path).name)
            audio, rate = read_audio(upload_path)
        except ValueError as error:
            raise gr.Error(f"That melody file cannot be used: {error}") from None
        if audio.ndim == 2 and audio.shape[1] > 2:        # more than stereo: the pitch is in every channel
            audio = audio.mean(axis=1, dtype="float32")
        return audio, int(rate), f"the uploaded file {Path(upload_path).name}"
    if source == MELODY_SOURCES[2]:
        if not take_id:
            raise gr.Error("Select a take in the list first: its melody stem is the melody")
        from lantern_studio.engines.music.musicgen import melody_from_take
        try:
            take = _store(ctx).load(take_id)
            audio, rate = melody_from_take(take, stem=MELODY_STEM)
        except (ValueError, KeyError, OSError) as error:
            raise gr.Error(f"The selected take has no usable melody stem ({error}). Composer takes have one; "
                           "or upload the melody as a file") from None
        return audio, rate, f"the melody stem of {take.name or take.id}"
    raise gr.Error("Choose where the melody comes from: an uploaded file or the selected take's melody stem")


def check_melody_model(ctx: StudioContext, request: GenerationRequest) -> str:
    """The name of the model ``request`` will use, after checking it takes a melody (``gr.Error`` if not)."""
    from lantern_studio.engines.music import musicgen_models as models
    engine = _engine(ctx, "musicgen")
    name = engine.requested_model(request)
    try:
        info = models.inspect_model(models.resolve_model(models.canonical_name(name), engine.models_dir,
                                                         hf_cache_dir=engine.hf_cache_dir))
    except (ValueError, OSError, RuntimeError) as error:
        raise gr.Error(f"MusicGen model {name!r} cannot be used: {error}") from None
    if not info.melody:
        melody_models = []
        for location in engine.list_models():
            try:
                if models.inspect_model(location).melody:
                    melody_models.append(location.name)
            except Exception:   # an unreadable folder is simply not offered
                continue
        have = (f"Melody models here: {', '.join(melody_models)}." if melody_models else
                "No melody model is in the models folder; add facebook/musicgen-melody (or -stereo-melody).")
        raise gr.Error(f"MusicGen model '{info.location.name}' is not a melody model, so it cannot follow a "
                       f"melody. Choose a melody model under 'Engine parameters', or set Melody to 'none'. {have}")
    return info.location.name


# ------------------------------------------------------------------------------------------------
# handlers: what the list shows
# ------------------------------------------------------------------------------------------------

def view_values(ctx: StudioContext, take_id: str | None, filter_values) -> tuple:
    """The values of ``ui.view`` (selection, list, the selected take's panel, the compare and trash pickers,
    and the takes folder's signature these were read at, so the timer does not read them again) with
    ``take_id`` selected; a take that is gone (deleted, here or in another window) is unselected."""
    store = _store(ctx)
    # read before the lists: a take saved while they are read changes it again, and the next check shows it
    signature = store.signature()
    if take_id and take_id not in store:
        take_id = None
    return (take_id, takes_table(ctx, take_id, *filter_values), *_detail(ctx, take_id),
            gr.update(choices=_pick_choices(ctx)), gr.update(choices=_trash_choices(ctx), value=None), signature)


def refresh_table(ctx: StudioContext, root, take_id, *filter_values):
    """The list after a filter or the sort changed (the selection stays highlighted)."""
    try:
        return takes_table(ctx.window(root), take_id, *filter_values)
    except ValueError as error:
        gr.Warning(str(error))
        return gr.update()


def on_engine(ctx: StudioContext, name: str) -> tuple:
    """(status line, details, model dropdown, Generate, Generate with melody) for the chosen engine."""
    ready, line, details = _engine_status(ctx, name)
    models = _models(ctx) if name == "musicgen" else []
    return (line, details, *engine_controls(ready, models, name))


def on_select(ctx: StudioContext, root, current, starred_v, eng_v, text_v, sort_v, evt: gr.SelectData) -> tuple:
    """A click in the list selects that row's take: (selection, list with the row highlighted, its panel).
    A click on the take already selected changes nothing, so a name or note being typed is kept."""
    take_id = str(evt.row_value[-1]) if evt is not None and evt.row_value else None
    if take_id is not None and take_id == current:
        return (gr.update(), gr.update(), *(gr.update() for _ in range(DETAIL_SIZE)))
    wctx = ctx.window(root)
    return (take_id, takes_table(wctx, take_id, starred_v, eng_v, text_v, sort_v), *_detail(wctx, take_id))


def list_refresh(ctx: StudioContext, root, take_id, *filter_values) -> tuple:
    """(signature, list, compare picker, trash picker) read afresh from the window's project; the selected
    take's panel is left alone, so nothing the user is typing there is overwritten."""
    return poll_takes(ctx, root, None, take_id, *filter_values)      # no signature equals None: always read


def poll_takes(ctx: StudioContext, root, seen, take_id, *filter_values) -> tuple:
    """The timer's check: one scan of the takes folder (its signature changes whenever a take is added,
    removed or edited, by any window); the list is read again only when it differs from ``seen``."""
    wctx = ctx.window(root)
    signature = _store(wctx).signature()
    if signature == seen:
        return gr.update(), gr.update(), gr.update(), gr.update()
    return (signature, takes_table(wctx, take_id, *filter_values),
            gr.update(choices=_pick_choices(wctx)), gr.update(choices=_trash_choices(wctx)))


def on_project_switch(ctx: StudioContext, root, *filter_values) -> tuple:
    """This window opened another project: the view with its takes and nothing selected."""
    return view_values(ctx.window(root), None, filter_values)


# ------------------------------------------------------------------------------------------------
# handlers: generation jobs (Generate, Vary, Continue, Continue from the loop, Extend, melody)
# ------------------------------------------------------------------------------------------------

def run_generation(ctx: StudioContext, engine_name: str, job: GenerationRequest, filter_values, request,
                   progress, *, keep_selected: str | None = None):
    """Yield the job outputs (status, *view) as each take of ``job`` is saved, then once when it ends.

    A new piece (``keep_selected`` None) selects each take as it arrives, so the newest is selected and ready
    to play when the job ends; Vary and Continue keep ``keep_selected`` (the take they grew from) selected.
    """
    engine = _engine(ctx, engine_name)
    store = _store(ctx)
    saved: list[Take] = []
    with STOPS.running(request) as cancel:
        def work(report, emit):
            return generate_takes(engine, job, store, progress=report, cancel=cancel, on_saved=emit)

        try:
            for take in stream_job(work, progress, name="lantern-generate"):
                saved.append(take)
                yield (f"Saved {len(saved)} of {job.takes}: **{take.name}** (seed {take.seed})",
                       *view_values(ctx, keep_selected or take.id, filter_values))
        except Cancelled:
            pass
        except GeneratorExit:        # the window went away mid-job: the worker stops after the take it is on
            cancel.set()
            raise
        except UserInputError:       # a refusal, not a failure: the handlers' job_guard makes it a toast
            raise
        except Exception as error:   # the engine failed: finished takes are saved; say so, never a crash
            if not saved:
                raise gr.Error(f"{engine_name} could not make the take: {error}") from None
            gr.Warning(f"{engine_name} stopped with an error after {len(saved)} take(s); those are saved. ({error})")
        verb = "Stopped" if cancel.is_set() else "Done"
    status = f"{verb}: {len(saved)} of {job.takes} take(s) saved in the project."
    if not saved:
        yield (status, *(gr.update() for _ in range(VIEW_SIZE)))
        return
    yield (status, *view_values(ctx, keep_selected or saved[-1].id, filter_values))


def parent_request(ctx: StudioContext, root, take_id, mode: str, *, strength_v=0.3, region=None,
                   takes_v=1) -> tuple[Take, GenerationRequest]:
    """The selected take (or ``take_id``) and the request that varies or continues it."""
    parent = _selected_take(ctx.window(root), take_id)
    duration_s = float(parent.duration_s) if mode == "vary" else min(float(parent.duration_s), 60.0)
    job = GenerationRequest(prompt=parent.prompt, preset=parent.preset, duration_s=duration_s, seed=None,
                            takes=int(takes_v), params={}, mode=mode, parent=parent,
                            variation_strength=float(strength_v), region_s=region)
    return parent, job


def loop_parent(ctx: StudioContext, root, active_id, region_text) -> tuple[Take, GenerationRequest]:
    """The take heard in the player and the request that continues its loop region."""
    region = _parse_region(region_text)
    if region is None:
        raise gr.Error("Set a loop in the player first (L toggles it; '[ from here' and 'to here ]' set it)")
    return parent_request(ctx, root, heard_take(active_id), "continue", region=region)


def extend_job(ctx: StudioContext, root, take_id, extend_to_v) -> GenerationRequest:
    return extend_request(_selected_take(ctx.window(root), take_id), extend_to_v)


def melody_job(ctx: StudioContext, root, engine_name, preset_v, prompt_v, duration_v, takes_v, seed_mode_v, seed_v,
               params_v, model_v, source_v, file_v, take_id) -> tuple[GenerationRequest, str]:
    """The melody-conditioned request the controls describe, and what follows what (for the message)."""
    if engine_name != "musicgen":
        raise gr.Error("Melody conditioning is a MusicGen action: choose the musicgen engine and a melody model "
                       "(the composer writes its own melodies)")
    job = request_from_controls(engine_name, preset_v, prompt_v, duration_v, takes_v, seed_mode_v, seed_v,
                                params_v, model_v)
    if source_v in (None, "", "none"):
        raise gr.Error("Choose where the melody comes from (an uploaded file or the selected take's melody "
                       "stem), or use Generate for a take without one")
    model_name = check_melody_model(ctx, job)
    audio, rate, what = load_melody(ctx.window(root), source_v, file_v, take_id)
    return dataclasses.replace(job, melody=audio, melody_sample_rate=rate), f"{model_name} follows {what}"


def vary_check(ctx: StudioContext, root, take_id, strength_v, count_v):
    return parent_request(ctx, root, take_id, "vary", strength_v=strength_v, takes_v=count_v)


def continue_check(ctx: StudioContext, root, take_id):
    return parent_request(ctx, root, take_id, "continue")


DETAIL_SIZE = 14          # len(ui.detail): the selected take's panel (see ``_detail``)
VIEW_SIZE = 19            # len(ui.view): selection, list, the take's panel, compare and trash pickers, signature
JOB_SIZE = 1 + VIEW_SIZE  # status, *view
job_guard = keep_outputs(JOB_SIZE, status_index=0)


@job_guard
def do_generate(ctx: StudioContext, root, engine_name, preset_v, prompt_v, duration_v, takes_v, seed_mode_v, seed_v,
                params_v, model_v, starred_v, eng_v, text_v, sort_v, request: gr.Request, progress=gr.Progress()):
    job = request_from_controls(engine_name, preset_v, prompt_v, duration_v, takes_v, seed_mode_v, seed_v,
                                params_v, model_v)
    yield from run_generation(ctx.window(root), engine_name, job, (starred_v, eng_v, text_v, sort_v), request,
                              progress)


@job_guard
def do_vary(ctx: StudioContext, root, take_id, strength_v, count_v, starred_v, eng_v, text_v, sort_v,
            request: gr.Request, progress=gr.Progress()):
    parent, job = vary_check(ctx, root, take_id, strength_v, count_v)
    yield from run_generation(ctx.window(root), parent.engine, job, (starred_v, eng_v, text_v, sort_v), request,
                              progress, keep_selected=take_id)


@job_guard
def do_continue(ctx: StudioContext, root, take_id, starred_v, eng_v, text_v, sort_v, request: gr.Request,
                progress=gr.Progress()):
    parent, job = continue_check(ctx, root, take_id)
    yield from run_generation(ctx.window(root), parent.engine, job, (starred_v, eng_v, text_v, sort_v), request,
                              progress, keep_selected=take_id)


@job_guard
def do_continue_loop(ctx: StudioContext, root, active_id, region_text, take_id, starred_v, eng_v, text_v, sort_v,
                     request: gr.Request, progress=gr.Progress()):
    parent, job = loop_parent(ctx, root, active_id, region_text)
    yield from run_generation(ctx.window(root), parent.engine, job, (starred_v, eng_v, text_v, sort_v), request,
                              progress, keep_selected=take_id)


@job_guard
def do_extend(ctx: StudioContext, root, take_id, extend_to_v, starred_v, eng_v, text_v, sort_v, request: gr.Request,
              progress=gr.Progress()):
    job = extend_job(ctx, root, take_id, extend_to_v)
    yield from run_generation(ctx.window(root), "musicgen", job, (starred_v, eng_v, text_v, sort_v), request,
                              progress, keep_selected=take_id)


@job_guard
def do_generate_melody(ctx: StudioContext, root, engine_name, preset_v, prompt_v, duration_v, takes_v, seed_mode_v,
                       seed_v, params_v, model_v, source_v, file_v, take_id, starred_v, eng_v, text_v, sort_v,
                       request: gr.Request, progress=gr.Progress()):
    job, message = melody_job(ctx, root, engine_name, preset_v, prompt_v, duration_v, takes_v, seed_mode_v, seed_v,
                              params_v, model_v, source_v, file_v, take_id)
    gr.Info(message)
    yield from run_generation(ctx.window(root), "musicgen", job, (starred_v, eng_v, text_v, sort_v), request,
                              progress)


stop_generation = STOPS.stop_handler("Stopping after the take in progress; finished takes are kept.",
                                     "Nothing is being generated.")


def bump(count):
    """The next value of the hidden "takes changed" number other tabs (the Mixer) listen to."""
    return (count or 0) + 1


# ------------------------------------------------------------------------------------------------
# handlers: the selected take (star, rate, rename, notes, restore, delete, trash) and compare
# ------------------------------------------------------------------------------------------------

def _edited(ctx: StudioContext, root, take_id, filter_values, action) -> tuple:
    """Apply ``action(store, take_id)`` to the selected take and return the view after it."""
    if not take_id:
        raise gr.Error("Select a take in the list first")
    wctx = ctx.window(root)
    try:
        action(_store(wctx), take_id)
    except (ValueError, KeyError) as error:
        raise gr.Error(str(error)) from None
    return view_values(wctx, take_id, filter_values)


def _toggle_star(store: TakeStore, take_id: str) -> None:
    store.update(take_id, starred=not store.load(take_id, with_audio=False).starred)


@keep_outputs(VIEW_SIZE)
def do_star(ctx: StudioContext, root, take_id, *filter_values):
    return _edited(ctx, root, take_id, filter_values, _toggle_star)


@keep_outputs(VIEW_SIZE)
def do_rate(ctx: StudioContext, root, take_id, rating_v, *filter_values):
    return _edited(ctx, root, take_id, filter_values, lambda store, i: store.update(i, rating=int(rating_v)))


@keep_outputs(VIEW_SIZE)
def do_rename(ctx: StudioContext, root, take_id, name_v, *filter_values):
    return _edited(ctx, root, take_id, filter_values, lambda store, i: store.update(i, name=name_v))


@keep_outputs(VIEW_SIZE)
def do_save_notes(ctx: StudioContext, root, take_id, notes_v, *filter_values):
    return _edited(ctx, root, take_id, filter_values, lambda store, i: store.update(i, notes=notes_v))


@keep_outputs(9)      # the controls
def do_restore(ctx: StudioContext, root, take_id):
    """The controls set to make the selected take again."""
    if not take_id:
        raise gr.Error("Select a take in the list first")
    take = _store(ctx.window(root)).load(take_id, with_audio=False)
    gr.Info(f"Settings of {take.name or take.id} restored: Generate makes it again")
    return restore_values(take)


def _move_take(ctx: StudioContext, root, take_id, filter_values, *, to_trash: bool):
    """Move a take to the project's trash or back; the list then selects what is left in view."""
    if not take_id:
        raise gr.Error("Select a take in the list first" if to_trash else "Pick a deleted take first")
    wctx = ctx.window(root)
    store = _store(wctx)
    try:
        (store.delete if to_trash else store.restore)(take_id)
    except Exception as error:
        raise gr.Error(f"Could not {'move the take to the trash' if to_trash else 'restore it'}: {error}") from None
    if to_trash:
        gr.Info("Moved to the project's trash; restore it from 'Trash' below the actions")
    return view_values(wctx, None if to_trash else take_id, filter_values)


@keep_outputs(VIEW_SIZE)
def do_delete(ctx: StudioContext, root, take_id, *filter_values):
    return _move_take(ctx, root, take_id, filter_values, to_trash=True)


@keep_outputs(VIEW_SIZE)
def do_untrash(ctx: StudioContext, root, take_id, *filter_values):
    return _move_take(ctx, root, take_id, filter_values, to_trash=False)


@keep_outputs(2, status_index=1)
def do_compare(ctx: StudioContext, root, picked, target, use_crossfeed, strength_v, progress=gr.Progress()):
    """(A/B/X player value, one line per take with its loudness and matching gain) for two to four takes."""
    picked = list(picked or [])
    if not 2 <= len(picked) <= 4:
        raise gr.Error(f"Pick two to four takes to compare (you picked {len(picked)})")
    store = _store(ctx.window(root))
    try:
        takes = [store.load(take_id) for take_id in picked]
        settings = preview_engine.PreviewSettings(target_lufs=float(target),
                                                  crossfeed_strength=float(strength_v) if use_crossfeed else 0.0)
        previews = preview_engine.prepare_previews(takes, served_dir("previews"), settings=settings,
                                                   progress=gr_progress(progress))
    except (ValueError, KeyError) as error:
        raise gr.Error(str(error)) from None
    lines = [f"{p.label}: {p.name}: {p.integrated_lufs:.1f} LUFS (gain {p.gain_db:+.1f} dB, "
             f"true peak {p.true_peak_dbtp:.1f} dBTP)" for p in previews]
    value = ab_player.player_value(previews, target_lufs=settings.target_lufs,
                                   crossfeed=settings.crossfeed_strength, mirror_id=LOOP_BOX_ID,
                                   active_mirror_id=ACTIVE_BOX_ID, heard_mirror_id=HEARD_BOX_ID)
    return value, "  \n".join(lines)


# ------------------------------------------------------------------------------------------------
# the tab: layout
# ------------------------------------------------------------------------------------------------

def _generate_panel(ctx: StudioContext, ui: SimpleNamespace) -> None:
    presets, default_preset = _presets()
    _ready, composer_line, composer_details = _engine_status(ctx, "composer")
    ui.engine = gr.Radio(list(ENGINES), value="composer", label="Engine", elem_id="music-engine")
    ui.engine_info = gr.Markdown(composer_line, elem_id="music-engine-status")
    with gr.Accordion("Details", open=False, elem_id="music-engine-details-panel"):
        ui.engine_details = gr.Markdown(composer_details, elem_id="music-engine-details")
    ui.preset = gr.Dropdown(presets, value=default_preset, label="Preset", elem_id="music-preset",
                            allow_custom_value=False)
    ui.prompt = gr.Textbox(label="Prompt (optional for the composer; what MusicGen should play)", lines=2,
                           placeholder="e.g. 元宵节 lantern festival, bright suona and drums", elem_id="music-prompt")
    with gr.Row():
        ui.duration = gr.Slider(2, 300, value=12, step=1, label="Duration (s)", elem_id="music-duration")
        ui.takes_n = gr.Slider(1, MAX_TAKES, value=3, step=1, label="Takes", elem_id="music-takes")
    with gr.Row():
        ui.seed_mode = gr.Radio(["random", "fixed"], value="random", label="Seed", elem_id="music-seed-mode")
        ui.seed = gr.Number(value=1234, precision=0, label="Fixed seed (take i gets seed + i)", elem_id="music-seed")
    with gr.Accordion("Engine parameters", open=False):
        ui.params = gr.Textbox(value="{}", label="Parameters (JSON, passed to the engine)", lines=2,
                               elem_id="music-params")
        ui.model = gr.Dropdown([], label="MusicGen model", elem_id="music-model", allow_custom_value=True)
    with gr.Accordion("Melody (MusicGen melody models): arrange my melody in this style", open=False,
                      elem_id="music-melody-panel"):
        ui.melody_source = gr.Radio(list(MELODY_SOURCES), value="none", label="Melody from",
                                    elem_id="music-melody-source")
        ui.melody_file = gr.Audio(label="Melody file", type="filepath", sources=["upload"], elem_id="music-melody-file")
        ui.generate_melody = gr.Button("Generate with this melody", elem_id="music-generate-melody",
                                       interactive=False)   # a MusicGen action: enabled with a model
    with gr.Row():
        ui.generate = gr.Button("Generate", variant="primary", elem_id="music-generate")
        ui.stop = gr.Button("Stop", variant="stop", elem_id="music-stop")
    ui.status = gr.Markdown("", elem_id="music-status")


def _take_actions_panel(ctx: StudioContext, ui: SimpleNamespace) -> None:
    with gr.Row():
        ui.star = gr.Button("☆ Star", elem_id="music-star", interactive=False)
        ui.rating = gr.Slider(0, 5, value=0, step=1, label="Rating", elem_id="music-rating")
    with gr.Row():
        ui.name = gr.Textbox(label="Name", elem_id="music-name", scale=3)
        ui.rename = gr.Button("Rename", elem_id="music-rename", interactive=False, scale=1)
    ui.notes = gr.Textbox(label="Notes", lines=2, elem_id="music-notes")
    ui.save_notes = gr.Button("Save notes", elem_id="music-save-notes", interactive=False, size="sm")
    ui.restore_settings = gr.Button("Restore these settings", elem_id="music-restore", interactive=False)
    with gr.Row():
        ui.strength = gr.Slider(0.05, 1.0, value=0.3, step=0.05, label="Variation strength",
                                elem_id="music-vary-strength")
        ui.vary_n = gr.Slider(1, MAX_TAKES, value=2, step=1, label="Variations", elem_id="music-vary-count")
        ui.vary = gr.Button("Vary", elem_id="music-vary", interactive=False)
    ui.continue_btn = gr.Button("Continue (next section)", elem_id="music-continue", interactive=False)
    with gr.Row():
        ui.extend_to = gr.Number(value=60, minimum=1, maximum=MAX_DURATION_S, precision=1,
                                 label="Extend to (s), MusicGen takes", elem_id="music-extend-to")
        ui.extend_btn = gr.Button("Extend", elem_id="music-extend", interactive=False)
    ui.delete = gr.Button("Delete (to the project's trash)", variant="stop", elem_id="music-delete",
                          interactive=False)
    with gr.Accordion("Trash", open=False, elem_id="music-trash-panel"):
        ui.trash = gr.Dropdown(choices=_trash_choices(ctx), label="Deleted takes", elem_id="music-trash")
        ui.untrash = gr.Button("Restore from trash", elem_id="music-untrash")


def _takes_panel(ctx: StudioContext, ui: SimpleNamespace) -> None:
    with gr.Row():
        ui.f_starred = gr.Checkbox(False, label="Starred only", elem_id="music-filter-starred")
        ui.f_engine = gr.Dropdown(["all", *ENGINES], value="all", label="Engine", elem_id="music-filter-engine")
        ui.f_text = gr.Textbox(label="Search", placeholder="name, preset, prompt, notes", elem_id="music-filter-text")
        ui.f_sort = gr.Dropdown(list(SORTS), value="newest first", label="Sort", elem_id="music-sort")
    ui.table = gr.Dataframe(value=None, headers=HEADERS, datatype=DATATYPES, interactive=False, wrap=True,
                            elem_id="music-takes-table", column_widths=WIDTHS,
                            label="Takes (click a row to select)", max_height=420)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            ui.sel_wave = gr.Image(label="Selected take", type="filepath", interactive=False, height=100,
                                   elem_id="music-selected-wave")
            ui.sel_audio = gr.Audio(label="Play", type="filepath", interactive=False, elem_id="music-selected-audio")
            ui.sel_info = gr.Markdown("Select a take in the list.", elem_id="music-selected-info")
        with gr.Column(scale=2):
            _take_actions_panel(ctx, ui)


def _compare_panel(ctx: StudioContext, ui: SimpleNamespace) -> None:
    with gr.Accordion("Compare on headphones (A/B/X, loudness-matched)", open=True, elem_id="music-ab"):
        with gr.Row():
            ui.ab_pick = gr.CheckboxGroup(choices=_pick_choices(ctx), label="Takes to compare (2-4)",
                                          elem_id="music-ab-pick", scale=3)
            with gr.Column(scale=1, min_width=240):
                ui.ab_target = gr.Number(value=preview_engine.DEFAULT_TARGET_LUFS, label="Match to (LUFS)",
                                         elem_id="music-ab-target")
                ui.crossfeed = gr.Checkbox(False, label="Headphone crossfeed (previews only)",
                                           elem_id="music-crossfeed")
                ui.crossfeed_strength = gr.Slider(0.05, 1.0, value=0.5, step=0.05, label="Crossfeed strength",
                                                  elem_id="music-crossfeed-strength")
                ui.compare = gr.Button("Compare", variant="primary", elem_id="music-ab-compare")
        ui.player = ab_player.ab_player(elem_id=ab_player.PLAYER_ELEM_ID, mirror_id=LOOP_BOX_ID)
        with gr.Row():
            ui.loop_box = gr.Textbox(label="Loop region (s), set in the player", elem_id=LOOP_BOX_ID,
                                     placeholder="e.g. 4.00-8.00", scale=2)
            ui.heard_box = gr.Textbox(label="Take heard in the player", elem_id=HEARD_BOX_ID, interactive=False,
                                      scale=2)
            # the heard take's id (the hidden X included, without showing which it is), for the actions
            ui.active_box = gr.Textbox(elem_id=ACTIVE_BOX_ID, visible="hidden", show_label=False, container=False)
            ui.continue_loop = gr.Button("Continue from this loop", elem_id="music-continue-loop", scale=1)
        ui.ab_status = gr.Markdown("", elem_id="music-ab-status")


def _layout(ctx: StudioContext) -> SimpleNamespace:
    """Every component of the tab, by name, and the output groups the handlers fill."""
    gr.Markdown("Generate takes, star the good ones, vary or continue them, and compare two to four of them "
                "**at the same loudness** on headphones. Every take is saved in the project as soon as it is done.")
    ui = SimpleNamespace(selected=gr.State(None), seen=gr.State(""), root=ctx.project_state())
    # changes whenever this window makes, deletes or restores takes, so other tabs (the Mixer) refresh
    ui.takes_changed = gr.Number(0, visible=False, elem_id="music-takes-changed")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            _generate_panel(ctx, ui)
        with gr.Column(scale=3, min_width=520):
            _takes_panel(ctx, ui)
    _compare_panel(ctx, ui)
    ui.timer = gr.Timer(TAKES_POLL_S)
    ui.filters = [ui.f_starred, ui.f_engine, ui.f_text, ui.f_sort]
    ui.controls = [ui.engine, ui.preset, ui.prompt, ui.duration, ui.takes_n, ui.seed_mode, ui.seed, ui.params,
                   ui.model]
    ui.detail = [ui.sel_wave, ui.sel_audio, ui.sel_info, ui.name, ui.notes, ui.rating, ui.star, ui.rename,
                 ui.save_notes, ui.restore_settings, ui.vary, ui.continue_btn, ui.extend_btn, ui.delete]
    ui.view = [ui.selected, ui.table, *ui.detail, ui.ab_pick, ui.trash, ui.seen]
    ui.lists = [ui.seen, ui.table, ui.ab_pick, ui.trash]
    assert len(ui.detail) == DETAIL_SIZE and len(ui.view) == VIEW_SIZE
    ctx.shared["selected_take"] = ui.selected
    ctx.shared["takes_changed"] = ui.takes_changed
    return ui


# ------------------------------------------------------------------------------------------------
# the tab: wiring
# ------------------------------------------------------------------------------------------------

def _wire_jobs(ctx: StudioContext, ui: SimpleNamespace) -> list:
    """Generate, Vary, Continue, Continue from the loop, Extend and melody runs, and Stop. A run other than
    Generate is checked first without outputs, so a refusal (no take selected, no loop set) is a toast, not
    an error mark over the list. Returns the events that change the takes."""
    outputs = [ui.status, *ui.view]
    job_options = dict(concurrency_id=GPU_JOBS, concurrency_limit=1, api_name=False, show_progress_on=ui.status)
    events = [ui.generate.click(ctx.bind(do_generate), [ui.root, *ui.controls, *ui.filters], outputs,
                                **{**job_options, "api_name": "generate"})]

    def checked(button, check, check_inputs, job, job_inputs):
        def run_check(*values):
            check(ctx, *values)
        # a refusal stops the chain; app.build_app makes it a toast and one log line (messages.quiet_refusals)
        events.append(button.click(run_check, check_inputs, None, api_name=False).success(
            ctx.bind(job), job_inputs, outputs, **job_options))

    checked(ui.vary, vary_check, [ui.root, ui.selected, ui.strength, ui.vary_n],
            do_vary, [ui.root, ui.selected, ui.strength, ui.vary_n, *ui.filters])
    checked(ui.continue_btn, continue_check, [ui.root, ui.selected], do_continue, [ui.root, ui.selected, *ui.filters])
    checked(ui.continue_loop, loop_parent, [ui.root, ui.active_box, ui.loop_box],
            do_continue_loop, [ui.root, ui.active_box, ui.loop_box, ui.selected, *ui.filters])
    checked(ui.extend_btn, extend_job, [ui.root, ui.selected, ui.extend_to],
            do_extend, [ui.root, ui.selected, ui.extend_to, *ui.filters])
    melody_inputs = [ui.root, *ui.controls, ui.melody_source, ui.melody_file, ui.selected]
    checked(ui.generate_melody, melody_job, melody_inputs, do_generate_melody, [*melody_inputs, *ui.filters])
    ui.stop.click(stop_generation, None, ui.status, queue=False, api_name=False)
    return events


def _wire_takes(ctx: StudioContext, ui: SimpleNamespace) -> list:
    """The list, its filters and the selected take's actions. Returns the events that change the takes."""
    ui.engine.change(ctx.bind(on_engine), ui.engine,
                     [ui.engine_info, ui.engine_details, ui.model, ui.generate, ui.generate_melody])
    ui.table.select(ctx.bind(on_select), [ui.root, ui.selected, *ui.filters], [ui.selected, ui.table, *ui.detail])
    for component in ui.filters:
        component.change(ctx.bind(refresh_table), [ui.root, ui.selected, *ui.filters], ui.table, api_name=False)
    ui.star.click(ctx.bind(do_star), [ui.root, ui.selected, *ui.filters], ui.view, api_name=False)
    ui.rating.release(ctx.bind(do_rate), [ui.root, ui.selected, ui.rating, *ui.filters], ui.view, api_name=False)
    ui.rename.click(ctx.bind(do_rename), [ui.root, ui.selected, ui.name, *ui.filters], ui.view, api_name=False)
    ui.save_notes.click(ctx.bind(do_save_notes), [ui.root, ui.selected, ui.notes, *ui.filters], ui.view,
                        api_name=False)
    ui.restore_settings.click(ctx.bind(do_restore), [ui.root, ui.selected], ui.controls, api_name=False)
    ui.compare.click(ctx.bind(do_compare), [ui.root, ui.ab_pick, ui.ab_target, ui.crossfeed, ui.crossfeed_strength],
                     [ui.player, ui.ab_status], api_name=False)
    return [ui.delete.click(ctx.bind(do_delete), [ui.root, ui.selected, *ui.filters], ui.view, api_name=False),
            ui.untrash.click(ctx.bind(do_untrash), [ui.root, ui.trash, *ui.filters], ui.view, api_name=False)]


def _wire_refresh(ctx: StudioContext, ui: SimpleNamespace) -> None:
    """The list follows the project on disk: on page load, and on this tab's select and on the timer only when
    the takes folder's signature changed (every view this window sends records the signature it was read at,
    in ``ui.seen``), and when this window opens another project."""
    root_block = gr.context.Context.root_block
    if root_block is not None:
        root_block.load(ctx.bind(list_refresh), [ui.root, ui.selected, *ui.filters], ui.lists, api_name=False)
    poll_inputs = [ui.root, ui.seen, ui.selected, *ui.filters]
    tab = ctx.shared.get("tab:tab-music")
    if tab is not None:
        tab.select(ctx.bind(poll_takes), poll_inputs, ui.lists, api_name=False, show_progress="hidden")
    ui.timer.tick(ctx.bind(poll_takes), poll_inputs, ui.lists, api_name=False, show_progress="hidden")
    project_version = ctx.shared.get("project_version")
    if project_version is not None:
        project_version.change(ctx.bind(on_project_switch), [ui.root, *ui.filters], ui.view, api_name=False)


def build_tab(ctx: StudioContext) -> None:
    ui = _layout(ctx)
    changing = [*_wire_jobs(ctx, ui), *_wire_takes(ctx, ui)]
    for event in changing:
        event.then(bump, ui.takes_changed, ui.takes_changed, api_name=False, queue=False)
    _wire_refresh(ctx, ui)


def heard_take(active_id: str | None) -> str:
    """The take to act on for "Continue from this loop": the one the A/B/X player plays (the hidden X
    included), never the list's selection, which may be another take."""
    take_id = (active_id or "").strip()
    if not take_id:
        raise gr.Error("Compare takes and pick the one to continue in the player first (keys 1-4 or X)")
    return take_id
