"""Mixer tab: the stems of a take (plus added audio and one-shots) with gain, pan, mute, solo and ducking;
a master loudness target and ceiling; a meter; export of the mix and stems.

Handlers are thin: the session lives in ``engines.audio.session.StemSession`` (one per browser session, in
a ``gr.State``), mixing in ``kernels.mix``, mastering and metering in ``kernels.dsp``. The session of a
take is saved in the project's ``stems/<take id>/`` whenever stems are added or the mix is rendered, so
added files and settings survive a restart.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import gradio as gr

from lantern_studio.engines.audio.ingest import AudioInputError
from lantern_studio.engines.audio.session import MasterSettings, StemSession
from lantern_studio.engines.audio.stem_export import export_session
from lantern_studio.engines.safety import sanitize_filename
from lantern_studio.engines.audio.waveform import write_waveform_png
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.studio.context import GPU_JOBS, StudioContext
from lantern_studio.studio.messages import keep_outputs

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


def build_tab(ctx: StudioContext) -> None:
    gr.Markdown("Mix the stems of a take: gain, pan, mute, solo, ducking under a key stem, a loudness target and a "
                "true-peak ceiling. Added files must be mono or stereo audio up to 15 minutes; files at another "
                "sample rate are resampled to the take's rate (the message says so).")
    session_state = gr.State(None)
    version = gr.State(0)
    selected_take = ctx.shared.get("selected_take")
    window_root = ctx.project_state()     # every handler works in this window's project

    with gr.Row():
        take_pick = gr.Dropdown(choices=_take_choices(ctx), label="Take", elem_id="mixer-take", scale=3)
        load = gr.Button("Load", elem_id="mixer-load", scale=1)
        use_selected = gr.Button("Use the take selected in Music", elem_id="mixer-use-selected", scale=1)
    summary = gr.Markdown(_summary(None), elem_id="mixer-summary")

    @gr.render(inputs=[session_state, version], triggers=[version.change])
    def stems_ui(session: StemSession | None, _version: int):
        if session is None or not session.stems:
            return
        for index, stem in enumerate(session.stems):
            with gr.Row(elem_id=f"mixer-stem-{index}", equal_height=False, elem_classes=["mixer-stem"]):
                gr.Markdown(f"**{stem.name}**  \n{stem.source} · {'mono' if stem.channels == 1 else 'stereo'} · "
                            f"{stem.audio.shape[0] / session.sample_rate:.1f} s", elem_id=f"mixer-stem-{index}-name",
                            min_height=0)
                gain = gr.Slider(-36, 12, value=stem.gain_db, step=0.5, label="Gain (dB)", scale=3, min_width=180,
                                 elem_id=f"mixer-stem-{index}-gain", key=f"gain-{index}-{stem.name}")
                pan = gr.Slider(-1, 1, value=stem.pan, step=0.05, label="Pan (L-R)", scale=3, min_width=180,
                                elem_id=f"mixer-stem-{index}-pan", key=f"pan-{index}-{stem.name}")
                offset = gr.Number(value=stem.offset_s, label="Start (s)", minimum=0, precision=2, scale=1,
                                   min_width=90, elem_id=f"mixer-stem-{index}-offset", key=f"off-{index}-{stem.name}")
                with gr.Column(scale=1, min_width=90):
                    mute = gr.Checkbox(value=stem.mute, label="Mute", elem_id=f"mixer-stem-{index}-mute",
                                       key=f"mute-{index}-{stem.name}", container=False)
                    solo = gr.Checkbox(value=stem.solo, label="Solo", elem_id=f"mixer-stem-{index}-solo",
                                       key=f"solo-{index}-{stem.name}", container=False)
                remove = gr.Button("Remove", size="sm", scale=0, min_width=80, elem_id=f"mixer-stem-{index}-remove")

            def setter(field: str, name: str = stem.name):
                def apply(value, current: StemSession):
                    if current is None:
                        return
                    try:
                        current.set_stem(name, **{field: value})
                    except ValueError as error:
                        raise gr.Error(str(error)) from None
                return apply

            gain.change(setter("gain_db"), [gain, session_state], None, api_name=False)
            pan.change(setter("pan"), [pan, session_state], None, api_name=False)
            offset.change(setter("offset_s"), [offset, session_state], None, api_name=False)
            mute.change(setter("mute"), [mute, session_state], None, api_name=False)
            solo.change(setter("solo"), [solo, session_state], None, api_name=False)

            def drop(root, current: StemSession, count: int, name: str = stem.name):
                if current is None:
                    return count, gr.update()
                current.remove_stem(name)
                _save(ctx.window(root), current)
                return count + 1, gr.update(choices=[NO_KEY, *current.names()], value=current.master.duck_key or NO_KEY)

            remove.click(drop, [window_root, session_state, version], [version, duck_key], api_name=False)

    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            upload = gr.UploadButton("Add an audio file as a stem (WAV, FLAC, MP3, OGG)", file_count="single",
                                     type="filepath", file_types=[".wav", ".flac", ".mp3", ".ogg"],
                                     elem_id="mixer-upload")
            with gr.Row():
                sfx_offset = gr.Number(value=0.0, label="Firecrackers at (s)", minimum=0, elem_id="mixer-sfx-offset")
                add_sfx = gr.Button("Add firecrackers (one-shot)", elem_id="mixer-add-sfx")
        with gr.Column(scale=2):
            with gr.Row():
                duck_key = gr.Dropdown([NO_KEY], value=NO_KEY, label="Duck the other stems under",
                                       elem_id="mixer-duck-key")
                duck_depth = gr.Slider(-30, 0, value=-9, step=1, label="Ducking depth (dB)", elem_id="mixer-duck-depth")
            with gr.Row():
                target = gr.Number(value=-14.0, label="Master loudness (LUFS)", elem_id="mixer-target")
                ceiling = gr.Number(value=-1.0, label="True-peak ceiling (dBTP)", elem_id="mixer-ceiling")
                crossfeed = gr.Checkbox(False, label="Crossfeed in the render/export", elem_id="mixer-crossfeed")
    with gr.Row():
        render = gr.Button("Render mix", variant="primary", elem_id="mixer-render")
    meter = gr.Markdown("", elem_id="mixer-meter")
    with gr.Row(equal_height=False):
        mix_wave = gr.Image(label="Mix", type="filepath", interactive=False, height=110, elem_id="mixer-wave")
        mix_audio = gr.Audio(label="Mix", type="filepath", interactive=False, elem_id="mixer-audio")
    with gr.Row():
        formats = gr.CheckboxGroup(list(FORMATS), value=["wav"], label="Formats", elem_id="mixer-formats")
        with_stems = gr.Checkbox(True, label="Stems too (muted stems are left out)", elem_id="mixer-with-stems")
        export = gr.Button("Export (mix, stems, MIDI, recipe, zip)", elem_id="mixer-export")
    files = gr.File(label="Exported files", file_count="multiple", interactive=False, elem_id="mixer-files")

    # ---------------- handlers ----------------
    def do_load(root, take_id, count):
        if not take_id:
            raise gr.Error("Pick a take first (or select one in the Music tab)")
        wctx = ctx.window(root)
        session, note = _load_session(wctx, take_id)
        gr.Info(note)
        key = session.master.duck_key or NO_KEY
        return (session, count + 1, _summary(session), gr.update(choices=[NO_KEY, *session.names()], value=key),
                session.master.duck_depth_db, session.master.target_lufs, session.master.ceiling_dbtp,
                gr.update(choices=_take_choices(wctx), value=take_id))

    load_outputs = [session_state, version, summary, duck_key, duck_depth, target, ceiling, take_pick]
    # refusals are a toast (and the meter line), never Error badges over the mixer's controls
    load_guarded = keep_outputs(len(load_outputs))(do_load)
    load.click(load_guarded, [window_root, take_pick, version], load_outputs, api_name=False)
    if selected_take is not None:
        use_selected.click(load_guarded, [window_root, selected_take, version], load_outputs, api_name=False)
    else:
        use_selected.click(lambda: gr.Warning("The Music tab is not available"), None, None, api_name=False)

    def do_upload(root, path, current: StemSession | None, count, request: gr.Request):
        if not path:
            return count, gr.update(), gr.update()
        if current is None:
            raise gr.Error("Load a take first; added files join its stems")
        shown = Path(path).name
        try:
            stem, note = current.add_file(path, source="file", display_name=shown)
        except (AudioInputError, ValueError) as error:
            # the session is unchanged: nothing the user made is lost
            raise gr.Error(f"{error} (the mix is unchanged)") from None
        _save(ctx.window(root), current)
        gr.Info(f"Added {stem.name}" + (f": {note}" if note else ""))
        return count + 1, _summary(current), gr.update(choices=[NO_KEY, *current.names()])

    upload.upload(keep_outputs(3)(do_upload), [window_root, upload, session_state, version],
                  [version, summary, duck_key], api_name=False)

    def do_sfx(root, offset_s, current: StemSession | None, count):
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
        return count + 1, _summary(current), gr.update(choices=[NO_KEY, *current.names()])

    add_sfx.click(keep_outputs(3)(do_sfx), [window_root, sfx_offset, session_state, version],
                  [version, summary, duck_key], api_name=False)

    def master_settings(current, key, depth, target_v, ceiling_v, crossfeed_v) -> MasterSettings:
        try:
            return current.set_master(duck_key=None if key in (None, NO_KEY) else key, duck_depth_db=float(depth),
                                      target_lufs=float(target_v), ceiling_dbtp=float(ceiling_v),
                                      crossfeed_strength=0.5 if crossfeed_v else 0.0)
        except ValueError as error:
            raise gr.Error(str(error)) from None

    def do_render(root, current: StemSession | None, key, depth, target_v, ceiling_v, crossfeed_v,
                  progress=gr.Progress()):
        if current is None:
            raise gr.Error("Load a take first")
        master_settings(current, key, depth, target_v, ceiling_v, crossfeed_v)
        try:
            result = current.render(progress=lambda f, m: progress(f, desc=m))
        except ValueError as error:
            raise gr.Error(str(error)) from None
        _save(ctx.window(root), current)
        folder = Path(gr.utils.get_upload_folder()) / "lantern" / "mixes"     # served; cleaned when the studio stops
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        base = folder / f"{sanitize_filename(current.take_name or 'mix', separator='-', default='mix')}-{stamp}"
        from lantern_studio.engines.audio.stem_export import write_audio_file
        audio_path = write_audio_file(base.with_suffix(".wav"), result.audio, result.sample_rate, "wav")
        wave_path = write_waveform_png(result.audio, base.with_suffix(".png"), width_px=900, height_px=110)
        return _meter_text(result), str(wave_path), str(audio_path)

    render.click(keep_outputs(3, status_index=0)(do_render), [window_root, session_state, duck_key, duck_depth, target, ceiling, crossfeed],
                 [meter, mix_wave, mix_audio], concurrency_id=GPU_JOBS, concurrency_limit=1, api_name=False)

    def do_export(root, current: StemSession | None, key, depth, target_v, ceiling_v, crossfeed_v, chosen, stems_too,
                  progress=gr.Progress()):
        if current is None:
            raise gr.Error("Load a take first")
        master_settings(current, key, depth, target_v, ceiling_v, crossfeed_v)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = sanitize_filename(current.take_name or current.take_id or "mix", separator="-", default="mix")
        wctx = ctx.window(root)
        folder = wctx.project.renders_dir / "mixes" / f"{base}_seed{current.seed}_{stamp}"
        try:
            result = export_session(current, folder, formats=list(chosen or []), stems=bool(stems_too),
                                    progress=lambda f, m: progress(f, desc=m))
        except ValueError as error:
            raise gr.Error(str(error)) from None
        _save(wctx, current)
        gr.Info(f"Exported {len(result.files)} files and a zip to {folder}" + muted_note(current, bool(stems_too)))
        paths = [str(result.zip_path)] if result.zip_path else []
        return _meter_text(result.mix), paths + [str(p) for p in result.files]

    export.click(keep_outputs(2, status_index=0)(do_export),
                 [window_root, session_state, duck_key, duck_depth, target, ceiling, crossfeed, formats, with_stems],
                 [meter, files], concurrency_id=GPU_JOBS, concurrency_limit=1, api_name=False)

    def refresh_takes(root_dir):
        return gr.update(choices=_take_choices(ctx.window(root_dir)))

    root = gr.context.Context.root_block
    if root is not None:
        root.load(refresh_takes, window_root, take_pick, api_name=False)
    # takes made, deleted or restored in this window's Music tab show in the list at once
    takes_changed = ctx.shared.get("takes_changed")
    if takes_changed is not None:
        takes_changed.change(refresh_takes, window_root, take_pick, api_name=False)

    # another project was opened in the header: its takes fill the list; the loaded session (saved) is closed
    project_version = ctx.shared.get("project_version")
    if project_version is not None:
        def on_project_switch(root_dir, count):
            return (None, count + 1, _summary(None), gr.update(choices=_take_choices(ctx.window(root_dir)), value=None),
                    gr.update(choices=[NO_KEY], value=NO_KEY), "", None, None, None)

        project_version.change(on_project_switch, [window_root, version],
                               [session_state, version, summary, take_pick, duck_key, meter, mix_wave, mix_audio,
                                files], api_name=False)
