"""Mixer tab: the stems of a take (plus added audio and one-shots) with gain, pan, mute, solo and ducking;
a master loudness target and ceiling; a meter; export of the mix and stems.

The tab is a list of handlers: module-level functions of the studio context and their inputs (the window's
project folder first), which ``build_tab`` only lays out and wires (``ctx.bind``). The session lives in
``engines.audio.session.StemSession`` (one per browser window, in a ``gr.State``), mixing in ``kernels.mix``,
mastering and metering in ``kernels.dsp``; progress goes through ``studio.job_progress``. The session of a take
is saved in the project's ``stems/<take id>/`` whenever stems are added or the mix is rendered, so added files
and settings survive a restart.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from lantern_studio.engines.audio.ingest import AudioInputError
from lantern_studio.engines.audio.session import MasterSettings, StemSession
from lantern_studio.engines.audio.stem_export import export_session, file_base, write_audio_file
from lantern_studio.engines.safety import sanitize_filename
from lantern_studio.engines.audio.waveform import write_waveform_png
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.studio.context import GPU_JOBS, StudioContext, served_dir
from lantern_studio.studio.job_progress import gr_progress
from lantern_studio.studio.messages import keep_outputs, quiet

NO_KEY = "(no ducking)"
FORMATS = ("wav", "flac", "mp3")


def _store(ctx: StudioContext) -> TakeStore:
    return TakeStore(ctx.project)


def _take_choices(ctx: StudioContext) -> list[tuple[str, str]]:
    try:
        takes = _store(ctx).list(sort="created", descending=True)
    except Exception:
        return []
    return [(f"{'★ ' if t.starred else ''}{t.name or t.id} (seed {t.seed})", t.id) for t in takes]


def _session_dir(ctx: StudioContext, take_id: str) -> Path:
    return ctx.project.stems_dir / sanitize_filename(take_id, separator="-", max_bytes=100)


def _load_session(ctx: StudioContext, take_id: str) -> tuple[StemSession, str]:
    folder = _session_dir(ctx, take_id)
    note = ""
    if (folder / "session.json").exists():
        try:
            return StemSession.load(folder), "Loaded the saved mixer session of this take."
        except Exception as error:   # a damaged session: start again from the take, keep the folder
            note = f"The saved session could not be read ({error}); starting again from the take. "
    try:
        take = _store(ctx).load(take_id)
    except Exception as error:
        raise gr.Error(f"That take cannot be loaded: {error}") from None
    session = StemSession.from_take(take)
    return session, note + f"Loaded {len(session.stems)} stem(s) of {take.name or take.id}."


def _save(ctx: StudioContext, session: StemSession) -> None:
    if session is not None and session.take_id:
        session.save(_session_dir(ctx, session.take_id))


def _summary(session: StemSession | None) -> str:
    if session is None:
        return "No take loaded. Pick one and press **Load**, or select one in the Music tab."
    return (f"**{session.take_name or session.take_id}** · seed {session.seed} · {len(session.stems)} stem(s) · "
            f"{session.duration_s:.1f} s at {session.sample_rate} Hz")


def _meter_text(result) -> str:
    return (f"Integrated **{result.integrated_lufs:.1f} LUFS** · short-term max {result.short_term_max_lufs:.1f} LUFS"
            f" · true peak **{result.true_peak_dbtp:.1f} dBTP** · master gain {result.master_gain_db:+.1f} dB")


def muted_note(session: StemSession, stems_too: bool) -> str:
    """What the stems export leaves out: muted stems are not written (their settings are in the recipe)."""
    muted = [stem.name for stem in session.stems if stem.mute]
    if not stems_too or not muted:
        return ""
    return f"; muted stems left out: {', '.join(muted)} (unmute them to export them)"


def _duck_choices(session: StemSession, **value) -> dict:
    return gr.update(choices=[NO_KEY, *session.names()], **value)


# ------------------------------------------------------------------------------------------------
# handlers
# ------------------------------------------------------------------------------------------------

def set_stem(current: StemSession | None, name: str, field: str, value) -> None:
    """One stem's gain, pan, start, mute or solo changed in the session (the next render uses it)."""
    if current is None:
        return
    try:
        current.set_stem(name, **{field: value})
    except ValueError as error:
        raise gr.Error(str(error)) from None


def remove_stem(ctx: StudioContext, root, current: StemSession | None, count: int, name: str) -> tuple:
    """(stems version, ducking key dropdown) after the stem ``name`` is removed and the session saved."""
    if current is None:
        return count, gr.update()
    current.remove_stem(name)
    _save(ctx.window(root), current)
    return count + 1, _duck_choices(current, value=current.master.duck_key or NO_KEY)


LOAD_SIZE = 8      # session, stems version, summary, ducking key, depth, target, ceiling, take picker


@keep_outputs(LOAD_SIZE)
def do_load(ctx: StudioContext, root, take_id, count) -> tuple:
    """Load the take's saved mixer session (or its stems, the first time) into this window."""
    if not take_id:
        raise gr.Error("Pick a take first (or select one in the Music tab)")
    wctx = ctx.window(root)
    session, note = _load_session(wctx, take_id)
    gr.Info(note)
    return (session, count + 1, _summary(session), _duck_choices(session, value=session.master.duck_key or NO_KEY),
            session.master.duck_depth_db, session.master.target_lufs, session.master.ceiling_dbtp,
            gr.update(choices=_take_choices(wctx), value=take_id))


@keep_outputs(3)
def do_upload(ctx: StudioContext, root, path, current: StemSession | None, count) -> tuple:
    """Add an uploaded audio file as a stem: (stems version, summary, ducking key dropdown)."""
    if not path:
        return count, gr.update(), gr.update()
    if current is None:
        raise gr.Error("Load a take first; added files join its stems")
    try:
        stem, note = current.add_file(path, source="file", display_name=Path(path).name)
    except (AudioInputError, ValueError) as error:
        # the session is unchanged: nothing the user made is lost
        raise gr.Error(f"{error} (the mix is unchanged)") from None
    _save(ctx.window(root), current)
    gr.Info(f"Added {stem.name}" + (f": {note}" if note else ""))
    return count + 1, _summary(current), _duck_choices(current)


@keep_outputs(3)
def do_sfx(ctx: StudioContext, root, offset_s, current: StemSession | None, count) -> tuple:
    """Add a firecracker one-shot at ``offset_s``: (stems version, summary, ducking key dropdown)."""
    if current is None:
        raise gr.Error("Load a take first")
    from lantern_studio.engines.audio.sfx import firecrackers
    try:
        audio = firecrackers(sample_rate=current.sample_rate, seed=int(count) + 7, duration_s=2.5)
        stem = current.add_stem("firecrackers", audio, source="sfx", offset_s=float(offset_s or 0.0),
                                origin="one-shot")
    except ValueError as error:
        raise gr.Error(str(error)) from None
    _save(ctx.window(root), current)
    gr.Info(f"Added {stem.name} at {stem.offset_s:.1f} s")
    return count + 1, _summary(current), _duck_choices(current)


def master_settings(current: StemSession, key, depth, target_v, ceiling_v, crossfeed_v) -> MasterSettings:
    try:
        return current.set_master(duck_key=None if key in (None, NO_KEY) else key, duck_depth_db=float(depth),
                                  target_lufs=float(target_v), ceiling_dbtp=float(ceiling_v),
                                  crossfeed_strength=0.5 if crossfeed_v else 0.0)
    except ValueError as error:
        raise gr.Error(str(error)) from None


@keep_outputs(3, status_index=0)
def do_render(ctx: StudioContext, root, current: StemSession | None, key, depth, target_v, ceiling_v, crossfeed_v,
              progress=gr.Progress()) -> tuple:
    """Render the mix: (meter line, waveform picture, mix audio), files in the studio's served temp folder."""
    if current is None:
        raise gr.Error("Load a take first")
    master_settings(current, key, depth, target_v, ceiling_v, crossfeed_v)
    try:
        result = current.render(progress=gr_progress(progress))
    except ValueError as error:
        raise gr.Error(str(error)) from None
    _save(ctx.window(root), current)
    folder = served_dir("mixes")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    base = folder / f"{sanitize_filename(current.take_name or 'mix', separator='-', default='mix')}-{stamp}"
    audio_path = write_audio_file(base.with_suffix(".wav"), result.audio, result.sample_rate, "wav")
    wave_path = write_waveform_png(result.audio, base.with_suffix(".png"), width_px=900, height_px=110)
    return _meter_text(result), str(wave_path), str(audio_path)


@keep_outputs(2, status_index=0)
def do_export(ctx: StudioContext, root, current: StemSession | None, key, depth, target_v, ceiling_v, crossfeed_v,
              chosen, stems_too, progress=gr.Progress()) -> tuple:
    """Export the mix (and stems, MIDI, recipe, zip) into the project's renders: (meter line, files)."""
    if current is None:
        raise gr.Error("Load a take first")
    master_settings(current, key, depth, target_v, ceiling_v, crossfeed_v)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    wctx = ctx.window(root)
    folder = wctx.project.renders_dir / "mixes" / f"{file_base(current)}_seed{current.seed}_{stamp}"
    try:
        result = export_session(current, folder, formats=list(chosen or []), stems=bool(stems_too),
                                progress=gr_progress(progress))
    except ValueError as error:
        raise gr.Error(str(error)) from None
    _save(wctx, current)
    gr.Info(f"Exported {len(result.files)} files and a zip to {folder}" + muted_note(current, bool(stems_too)))
    paths = [str(result.zip_path)] if result.zip_path else []
    return _meter_text(result.mix), paths + [str(p) for p in result.files]


def refresh_takes(ctx: StudioContext, root):
    """The take picker read afresh from the window's project."""
    return gr.update(choices=_take_choices(ctx.window(root)))


def on_project_switch(ctx: StudioContext, root, count) -> tuple:
    """Another project was opened in this window: its takes fill the list; the loaded session (saved) closes."""
    return (None, count + 1, _summary(None), gr.update(choices=_take_choices(ctx.window(root)), value=None),
            gr.update(choices=[NO_KEY], value=NO_KEY), "", None, None, None)


def no_music_tab():
    gr.Warning("The Music tab is not available")


# ------------------------------------------------------------------------------------------------
# the tab: layout
# ------------------------------------------------------------------------------------------------

def _stem_row(ctx: StudioContext, ui: SimpleNamespace, session: StemSession, index: int, stem) -> None:
    """One stem's row (name, gain, pan, start, mute, solo, remove), wired to the session."""
    with gr.Row(elem_id=f"mixer-stem-{index}", equal_height=False, elem_classes=["mixer-stem"]):
        gr.Markdown(f"**{stem.name}**  \n{stem.source} · {'mono' if stem.channels == 1 else 'stereo'} · "
                    f"{stem.audio.shape[0] / session.sample_rate:.1f} s", elem_id=f"mixer-stem-{index}-name",
                    min_height=0)
        gain = gr.Slider(-36, 12, value=stem.gain_db, step=0.5, label="Gain (dB)", scale=3, min_width=180,
                         elem_id=f"mixer-stem-{index}-gain", key=f"gain-{index}-{stem.name}")
        pan = gr.Slider(-1, 1, value=stem.pan, step=0.05, label="Pan (L-R)", scale=3, min_width=180,
                        elem_id=f"mixer-stem-{index}-pan", key=f"pan-{index}-{stem.name}")
        offset = gr.Number(value=stem.offset_s, label="Start (s)", minimum=0, precision=2, scale=1, min_width=90,
                           elem_id=f"mixer-stem-{index}-offset", key=f"off-{index}-{stem.name}")
        with gr.Column(scale=1, min_width=90):
            mute = gr.Checkbox(value=stem.mute, label="Mute", elem_id=f"mixer-stem-{index}-mute",
                               key=f"mute-{index}-{stem.name}", container=False)
            solo = gr.Checkbox(value=stem.solo, label="Solo", elem_id=f"mixer-stem-{index}-solo",
                               key=f"solo-{index}-{stem.name}", container=False)
        remove = gr.Button("Remove", size="sm", scale=0, min_width=80, elem_id=f"mixer-stem-{index}-remove")
    # these handlers are made when the rows are drawn, after app.build_app wrapped every handler it had
    # (messages.quiet_refusals), so they are wrapped here: a refusal is a toast and one log line
    for control, field in ((gain, "gain_db"), (pan, "pan"), (offset, "offset_s"), (mute, "mute"), (solo, "solo")):
        control.change(quiet(lambda value, current, _field=field, _name=stem.name:
                             set_stem(current, _name, _field, value)),
                       [control, ui.session_state], None, api_name=False)
    remove.click(quiet(lambda root, current, count, _name=stem.name: remove_stem(ctx, root, current, count, _name)),
                 [ui.root, ui.session_state, ui.version], [ui.version, ui.duck_key], api_name=False)


def _stems(ctx: StudioContext, ui: SimpleNamespace) -> None:
    @gr.render(inputs=[ui.session_state, ui.version], triggers=[ui.version.change])
    def stems_ui(session: StemSession | None, _version: int):
        for index, stem in enumerate(session.stems if session is not None else []):
            _stem_row(ctx, ui, session, index, stem)


def _controls(ui: SimpleNamespace) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            ui.upload = gr.UploadButton("Add an audio file as a stem (WAV, FLAC, MP3, OGG)", file_count="single",
                                        type="filepath", file_types=[".wav", ".flac", ".mp3", ".ogg"],
                                        elem_id="mixer-upload")
            with gr.Row():
                ui.sfx_offset = gr.Number(value=0.0, label="Firecrackers at (s)", minimum=0,
                                          elem_id="mixer-sfx-offset")
                ui.add_sfx = gr.Button("Add firecrackers (one-shot)", elem_id="mixer-add-sfx")
        with gr.Column(scale=2):
            with gr.Row():
                ui.duck_key = gr.Dropdown([NO_KEY], value=NO_KEY, label="Duck the other stems under",
                                          elem_id="mixer-duck-key")
                ui.duck_depth = gr.Slider(-30, 0, value=-9, step=1, label="Ducking depth (dB)",
                                          elem_id="mixer-duck-depth")
            with gr.Row():
                ui.target = gr.Number(value=-14.0, label="Master loudness (LUFS)", elem_id="mixer-target")
                ui.ceiling = gr.Number(value=-1.0, label="True-peak ceiling (dBTP)", elem_id="mixer-ceiling")
                ui.crossfeed = gr.Checkbox(False, label="Crossfeed in the render/export", elem_id="mixer-crossfeed")


def _layout(ctx: StudioContext) -> SimpleNamespace:
    gr.Markdown("Mix the stems of a take: gain, pan, mute, solo, ducking under a key stem, a loudness target and a "
                "true-peak ceiling. Added files must be mono or stereo audio up to 15 minutes; files at another "
                "sample rate are resampled to the take's rate (the message says so).")
    ui = SimpleNamespace(session_state=gr.State(None), version=gr.State(0), root=ctx.project_state())
    with gr.Row():
        ui.take_pick = gr.Dropdown(choices=_take_choices(ctx), label="Take", elem_id="mixer-take", scale=3)
        ui.load = gr.Button("Load", elem_id="mixer-load", scale=1)
        ui.use_selected = gr.Button("Use the take selected in Music", elem_id="mixer-use-selected", scale=1)
    ui.summary = gr.Markdown(_summary(None), elem_id="mixer-summary")
    _stems(ctx, ui)     # the rows are drawn when a take loads; their Remove updates the ducking key made below
    _controls(ui)
    with gr.Row():
        ui.render = gr.Button("Render mix", variant="primary", elem_id="mixer-render")
    ui.meter = gr.Markdown("", elem_id="mixer-meter")
    with gr.Row(equal_height=False):
        ui.mix_wave = gr.Image(label="Mix", type="filepath", interactive=False, height=110, elem_id="mixer-wave")
        ui.mix_audio = gr.Audio(label="Mix", type="filepath", interactive=False, elem_id="mixer-audio")
    with gr.Row():
        ui.formats = gr.CheckboxGroup(list(FORMATS), value=["wav"], label="Formats", elem_id="mixer-formats")
        ui.with_stems = gr.Checkbox(True, label="Stems too (muted stems are left out)", elem_id="mixer-with-stems")
        ui.export = gr.Button("Export (mix, stems, MIDI, recipe, zip)", elem_id="mixer-export")
    ui.files = gr.File(label="Exported files", file_count="multiple", interactive=False, elem_id="mixer-files")
    return ui


# ------------------------------------------------------------------------------------------------
# the tab: wiring
# ------------------------------------------------------------------------------------------------

def _wire(ctx: StudioContext, ui: SimpleNamespace) -> None:
    load_outputs = [ui.session_state, ui.version, ui.summary, ui.duck_key, ui.duck_depth, ui.target, ui.ceiling,
                    ui.take_pick]
    ui.load.click(ctx.bind(do_load), [ui.root, ui.take_pick, ui.version], load_outputs, api_name=False)
    selected_take = ctx.shared.get("selected_take")
    if selected_take is not None:
        ui.use_selected.click(ctx.bind(do_load), [ui.root, selected_take, ui.version], load_outputs, api_name=False)
    else:
        ui.use_selected.click(no_music_tab, None, None, api_name=False)
    stems_changed = [ui.version, ui.summary, ui.duck_key]
    ui.upload.upload(ctx.bind(do_upload), [ui.root, ui.upload, ui.session_state, ui.version], stems_changed,
                     api_name=False)
    ui.add_sfx.click(ctx.bind(do_sfx), [ui.root, ui.sfx_offset, ui.session_state, ui.version], stems_changed,
                     api_name=False)
    master = [ui.session_state, ui.duck_key, ui.duck_depth, ui.target, ui.ceiling, ui.crossfeed]
    ui.render.click(ctx.bind(do_render), [ui.root, *master], [ui.meter, ui.mix_wave, ui.mix_audio],
                    concurrency_id=GPU_JOBS, concurrency_limit=1, api_name=False)
    ui.export.click(ctx.bind(do_export), [ui.root, *master, ui.formats, ui.with_stems], [ui.meter, ui.files],
                    concurrency_id=GPU_JOBS, concurrency_limit=1, api_name=False)


def _wire_refresh(ctx: StudioContext, ui: SimpleNamespace) -> None:
    """The take picker follows the project: on page load, on this tab's select, when this window's Music tab
    changes the takes, and when this window opens another project (the loaded session is closed)."""
    refresh = ctx.bind(refresh_takes)
    root_block = gr.context.Context.root_block
    if root_block is not None:
        root_block.load(refresh, ui.root, ui.take_pick, api_name=False)
    tab = ctx.shared.get("tab:tab-mixer")
    if tab is not None:
        tab.select(refresh, ui.root, ui.take_pick, api_name=False, show_progress="hidden")
    takes_changed = ctx.shared.get("takes_changed")
    if takes_changed is not None:
        takes_changed.change(refresh, ui.root, ui.take_pick, api_name=False)
    project_version = ctx.shared.get("project_version")
    if project_version is not None:
        project_version.change(ctx.bind(on_project_switch), [ui.root, ui.version],
                               [ui.session_state, ui.version, ui.summary, ui.take_pick, ui.duck_key, ui.meter,
                                ui.mix_wave, ui.mix_audio, ui.files], api_name=False)


def build_tab(ctx: StudioContext) -> None:
    ui = _layout(ctx)
    _wire(ctx, ui)
    _wire_refresh(ctx, ui)
