"""The A/B/X player: a small Web Audio player inside a ``gr.HTML`` component (UI only).

All chosen previews (already loudness-matched by ``engines.audio.preview``) are decoded into AudioBuffers
and started together, each through its own gain node; switching takes ramps one gain down and the next up
over a few milliseconds, so the play position is shared by construction and there is no gap. Keys 1-4
pick a take, X a hidden one, space plays/pauses, L toggles the loop. The loop region is cut from each
buffer with a short equal-power crossfade into the audio just before the loop start (the same recipe as
``engines.audio.preview.loop_region``), so the wrap has no click.

The player's state is readable from the page as ``window.lanternAB.state()`` (the browser tests use it),
and the loop region is mirrored into a Gradio textbox (and the take being heard into another) so the Music tab can "continue
from here".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import gradio as gr

PLAYER_ELEM_ID = "ab-player"

TEMPLATE = """
<div class="lantern-ab" tabindex="0">
  <div class="ab-row ab-takes"></div>
  <canvas class="ab-wave" height="84"></canvas>
  <div class="ab-row">
    <button class="ab-play" id="ab-play" title="space">▶ Play</button>
    <input class="ab-seek" id="ab-seek" type="range" min="0" max="1" step="0.001" value="0">
    <span class="ab-position" id="ab-position">0.00 / 0.00 s</span>
  </div>
  <div class="ab-row">
    <button class="ab-loop" id="ab-loop" title="L">Loop off</button>
    <button class="ab-loop-in" id="ab-loop-in">[ from here</button>
    <label>start <input class="ab-loop-start" id="ab-loop-start" type="number" min="0" step="0.01" value="0"> s</label>
    <label>end <input class="ab-loop-end" id="ab-loop-end" type="number" min="0" step="0.01" value="0"> s</label>
    <button class="ab-loop-out" id="ab-loop-out">to here ]</button>
    <label>crossfade <input class="ab-fade" id="ab-loop-fade" type="number" min="0" max="500" step="1" value="20"> ms</label>
  </div>
  <div class="ab-row">
    <button class="ab-x" id="ab-x" title="X">X (hidden)</button>
    <button class="ab-reveal" id="ab-reveal">Reveal X</button>
    <span class="ab-status" id="ab-status">Pick two to four takes and press "Compare".</span>
  </div>
</div>
"""

CSS = """
.lantern-ab { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px; outline: none; }
.lantern-ab:focus { box-shadow: 0 0 0 2px #e2573c55; }
.lantern-ab .ab-row { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 6px 0; }
.lantern-ab button { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 4px 10px;
  background: var(--button-secondary-background-fill); cursor: pointer; }
.lantern-ab button.active { background: #e2573c; color: white; border-color: #e2573c; }
.lantern-ab button.ab-take { min-width: 9em; text-align: left; }
.lantern-ab .ab-seek { flex: 1; min-width: 200px; }
.lantern-ab input[type=number] { width: 5.5em; }
.lantern-ab .ab-wave { width: 100%; height: 84px; background: #fcf6ec; border-radius: 4px; cursor: pointer; }
.lantern-ab .ab-status { opacity: 0.85; }
"""

JS = r"""
const root = element.querySelector('.lantern-ab') || element;
const S = {ctx: null, buffers: [], loopBuffers: [], tracks: [], sources: [], gains: [], active: 0,
           playing: false, startedAt: 0, offset: 0, duration: 0, loaded: false, loading: false,
           loop: {on: false, start: 0, end: 0, fade_s: 0.02}, x: null, xRevealed: false,
           switches: [], error: null, mirror: null, config: null, generation: 0, raf: null};
const q = (sel) => element.querySelector(sel);
const FADE_SWITCH_S = 0.005;

function parseConfig(v) {
  if (!v) return {tracks: []};
  if (typeof v === 'object') return v;
  try { return JSON.parse(v); } catch (e) { return {tracks: []}; }
}
function baseUrl() {
  const cfg = window.gradio_config;
  let base = (cfg && cfg.root) ? cfg.root : (location.origin + location.pathname);
  if (!base.endsWith('/')) base += '/';
  return base;
}
function ensureCtx(sampleRate) {
  if (!S.ctx) {
    try { S.ctx = new AudioContext({sampleRate: sampleRate || undefined, latencyHint: 'interactive'}); }
    catch (e) { S.ctx = new AudioContext(); }
  }
  return S.ctx;
}
function status(text) { const el = q('.ab-status'); if (el) el.textContent = text; }
function fmt(t) { return (Math.max(0, t)).toFixed(2); }

function position() {
  if (!S.playing || !S.ctx) return S.offset;
  const elapsed = S.ctx.currentTime - S.startedAt;
  if (S.loop.on) {
    const len = loopLength();
    const into = ((S.offset - S.loop.start) + elapsed) % len;
    return S.loop.start + (into < 0 ? into + len : into);
  }
  return Math.min(S.offset + elapsed, S.duration);
}
function loopLength() { return S.loopBuffers.length ? S.loopBuffers[0].duration : (S.loop.end - S.loop.start); }

function stopSources() {
  for (const src of S.sources) { try { src.onended = null; src.stop(); } catch (e) {} try { src.disconnect(); } catch (e) {} }
  S.sources = [];
}
function startSources(offset) {
  const ctx = S.ctx;
  stopSources();
  const t0 = ctx.currentTime + 0.01;
  S.buffers.forEach((buffer, i) => {
    const src = ctx.createBufferSource();
    if (S.loop.on && S.loopBuffers[i]) {
      src.buffer = S.loopBuffers[i];
      src.loop = true;
      const len = S.loopBuffers[i].duration;
      let into = (offset - S.loop.start) % len; if (into < 0) into += len;
      src.connect(S.gains[i]);
      src.start(t0, into);
    } else {
      src.buffer = buffer;
      src.connect(S.gains[i]);
      if (offset < buffer.duration) src.start(t0, offset);
    }
    S.sources.push(src);
  });
  if (!S.loop.on) {
    // the longest source ending means the end of the piece
    let longest = 0;
    S.buffers.forEach((b, i) => { if (b.duration > S.buffers[longest].duration) longest = i; });
    const src = S.sources[longest];
    if (src) src.onended = () => { if (S.playing) { S.playing = false; S.offset = 0; stopSources(); render(); } };
  }
  S.startedAt = t0;
  S.offset = offset;
}

async function play() {
  if (!S.loaded || S.playing) return;
  const ctx = ensureCtx();
  if (ctx.state !== 'running') { try { await ctx.resume(); } catch (e) {} }
  let start = S.offset >= S.duration - 0.01 ? 0 : S.offset;
  if (S.loop.on && (start < S.loop.start || start >= S.loop.end)) start = S.loop.start;
  startSources(start);
  S.playing = true;
  render(); tick();
}
function pause() {
  if (!S.playing) return;
  S.offset = position();
  S.playing = false;
  stopSources();
  render();
}
function toggle() { if (S.playing) pause(); else play(); }
function seek(t) {
  t = Math.max(0, Math.min(t, S.duration));
  if (S.loop.on && (t < S.loop.start || t >= S.loop.end)) t = S.loop.start;
  if (S.playing) startSources(t); else S.offset = t;
  render();
}
function applyGains(ramp) {
  if (!S.ctx) return;
  const now = S.ctx.currentTime;
  const target = (S.active === 'x') ? S.x : S.active;
  S.gains.forEach((g, i) => {
    const v = (i === target) ? 1 : 0;
    g.gain.cancelScheduledValues(now);
    if (ramp) { g.gain.setValueAtTime(g.gain.value, now); g.gain.linearRampToValueAtTime(v, now + FADE_SWITCH_S); }
    else g.gain.setValueAtTime(v, now);
  });
}
function select(which) {
  if (!S.loaded) return;
  if (which !== 'x' && (which < 0 || which >= S.buffers.length)) return;
  const from = S.active;
  const at = position();
  S.active = which;
  applyGains(true);
  S.switches.push({from: from, to: which, position_s: at, playing: S.playing});
  mirrorActive();
  render();
}

function buildLoopBuffer(buffer, startS, endS, fadeS) {
  // same recipe as engines.audio.preview.loop_region; a take shorter than the region reads as silence past
  // its end, so every take's loop has the same length and the takes stay in step
  const sr = buffer.sampleRate;
  const start = Math.round(startS * sr);
  const end = Math.round(endS * sr);
  const n = end - start;
  const fade = Math.min(Math.round(fadeS * sr), Math.floor(n / 2));
  const usePre = (Math.min(fade, start) === fade);
  const outLen = usePre ? n : n - fade;
  const out = S.ctx.createBuffer(buffer.numberOfChannels, Math.max(outLen, 1), sr);
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const src = buffer.getChannelData(c);
    const at = (i) => (i >= 0 && i < src.length) ? src[i] : 0;
    const dst = out.getChannelData(c);
    const head = usePre ? start : start + fade;
    for (let i = 0; i < outLen; i++) dst[i] = at(head + i);
    for (let i = 0; i < fade; i++) {
      const t = (i + 0.5) / fade;
      const k = outLen - fade + i;
      const other = usePre ? at(start - fade + i) : at(start + i);
      dst[k] = dst[k] * Math.cos(0.5 * Math.PI * t) + other * Math.sin(0.5 * Math.PI * t);
    }
  }
  return out;
}
function mirrorTo(id, text) {
  if (!id) return;
  const box = document.querySelector('#' + id + ' textarea, #' + id + ' input');
  if (!box || box.value === text) return;
  box.value = text;
  box.dispatchEvent(new Event('input', {bubbles: true}));
}
function mirrorLoop() {
  mirrorTo(S.mirror, S.loop.end > S.loop.start ? (S.loop.start.toFixed(2) + '-' + S.loop.end.toFixed(2)) : '');
}
function heardLabel() {
  // what the user hears, in words; the hidden X stays hidden until revealed
  if (S.active === 'x') {
    if (!S.xRevealed || S.x === null) return 'X (hidden)';
    const h = S.tracks[S.x]; return 'X = ' + h.label + ' · ' + h.name;
  }
  const t = S.tracks[S.active]; return t ? (t.label + ' · ' + t.name) : '';
}
function mirrorActive() {
  // the take id of what is heard (the X included) goes to the hidden box the actions read
  const index = (S.active === 'x') ? S.x : S.active;
  const t = (index === null || index === undefined) ? null : S.tracks[index];
  mirrorTo(S.activeMirror, t ? t.take_id : '');
  mirrorTo(S.heardMirror, S.loaded ? heardLabel() : '');
}
function setLoop(startS, endS, fadeS) {
  if (!S.loaded) return false;
  startS = Math.max(0, Math.min(Number(startS), S.duration));
  endS = Math.max(0, Math.min(Number(endS), S.duration));
  if (fadeS !== undefined && fadeS !== null) S.loop.fade_s = Math.max(0, Math.min(Number(fadeS), 0.5));
  if (!(endS - startS > 0.05)) { status('The loop end must be after its start (at least 0.05 s).'); return false; }
  const at = position();
  S.loop.start = startS; S.loop.end = endS;
  S.loopBuffers = S.buffers.map(b => buildLoopBuffer(b, startS, endS, S.loop.fade_s));
  if (S.playing) startSources(S.loop.on ? ((at >= startS && at < endS) ? at : startS) : at);
  mirrorLoop();
  render();
  return true;
}
function toggleLoop() {
  if (!S.loaded) return;
  if (!(S.loop.end > S.loop.start)) setLoop(0, S.duration);
  const at = position();
  S.loop.on = !S.loop.on;
  if (S.playing) startSources(S.loop.on && (at < S.loop.start || at >= S.loop.end) ? S.loop.start : at);
  else if (S.loop.on && (S.offset < S.loop.start || S.offset >= S.loop.end)) S.offset = S.loop.start;
  render();
}

function drawWave() {
  const canvas = q('.ab-wave');
  if (!canvas) return;
  const w = canvas.clientWidth || 600, h = canvas.height;
  if (canvas.width !== w) canvas.width = w;
  const g = canvas.getContext('2d');
  g.fillStyle = '#fcf6ec'; g.fillRect(0, 0, w, h);
  const idx = (S.active === 'x') ? null : S.active;
  const buffer = (idx === null) ? null : S.buffers[idx];
  if (S.duration > 0 && S.loop.end > S.loop.start) {
    g.fillStyle = S.loop.on ? '#f3c9a8' : '#ece3d6';
    g.fillRect(w * S.loop.start / S.duration, 0, w * (S.loop.end - S.loop.start) / S.duration, h);
  }
  if (buffer) {
    if (!buffer._peaks || buffer._peaks.length !== w * 2) {
      const data = buffer.getChannelData(0), peaks = new Float32Array(w * 2);
      const per = Math.max(1, Math.floor(buffer.length * (buffer.duration / S.duration) / w));
      for (let x = 0; x < w; x++) {
        let lo = 0, hi = 0; const s0 = Math.floor(x * buffer.length / w * (S.duration / buffer.duration));
        for (let i = s0; i < Math.min(s0 + per, data.length); i++) { const v = data[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
        peaks[2 * x] = lo; peaks[2 * x + 1] = hi;
      }
      buffer._peaks = peaks;
    }
    g.fillStyle = '#e2573c';
    for (let x = 0; x < w; x++) {
      const lo = buffer._peaks[2 * x], hi = buffer._peaks[2 * x + 1];
      const y0 = (1 - hi) * h / 2, y1 = (1 - lo) * h / 2;
      g.fillRect(x, y0, 1, Math.max(1, y1 - y0));
    }
  } else if (S.loaded) {
    g.fillStyle = '#8a7f72'; g.font = '14px sans-serif'; g.fillText('X: a hidden take', 10, h / 2);
  }
  if (S.duration > 0) {
    g.fillStyle = '#222'; g.fillRect(w * position() / S.duration, 0, 2, h);
  }
}

function render() {
  const names = S.tracks.map((t, i) => t.label);
  element.querySelectorAll('.ab-take').forEach((btn, i) => btn.classList.toggle('active', S.active === i));
  const xb = q('.ab-x'); if (xb) xb.classList.toggle('active', S.active === 'x');
  const pb = q('.ab-play'); if (pb) pb.textContent = S.playing ? '❚❚ Pause' : '▶ Play';
  const lb = q('.ab-loop'); if (lb) { lb.textContent = S.loop.on ? 'Loop on' : 'Loop off'; lb.classList.toggle('active', S.loop.on); }
  const p = position();
  const pos = q('.ab-position'); if (pos) pos.textContent = fmt(p) + ' / ' + fmt(S.duration) + ' s';
  const seekEl = q('.ab-seek'); if (seekEl && document.activeElement !== seekEl) { seekEl.max = S.duration || 1; seekEl.value = p; }
  const ls = q('.ab-loop-start'), le = q('.ab-loop-end');
  if (ls && document.activeElement !== ls) ls.value = S.loop.start.toFixed(2);
  if (le && document.activeElement !== le) le.value = S.loop.end.toFixed(2);
  const rv = q('.ab-reveal');
  if (rv) rv.textContent = (S.xRevealed && S.x !== null) ? ('X was ' + names[S.x]) : 'Reveal X';
  drawWave();
}
function tick() {
  if (S.raf) cancelAnimationFrame(S.raf);
  const step = () => { render(); if (S.playing) S.raf = requestAnimationFrame(step); else S.raf = null; };
  S.raf = requestAnimationFrame(step);
}

async function load(config) {
  const generation = ++S.generation;
  pause(); stopSources();
  S.config = config; S.tracks = config.tracks || []; S.mirror = config.mirror_id || null;
  S.activeMirror = config.active_mirror_id || null;
  S.heardMirror = config.heard_mirror_id || null;
  S.buffers = []; S.loopBuffers = []; S.gains = []; S.loaded = false; S.active = 0; S.offset = 0;
  S.loop = {on: false, start: 0, end: 0, fade_s: S.loop.fade_s}; S.switches = []; S.error = null;
  S.xRevealed = false; S.x = null;
  const box = q('.ab-takes');
  if (box) box.innerHTML = '';
  if (!S.tracks.length) { S.duration = 0; render(); status(config.message || 'Pick two to four takes and press "Compare".'); return; }
  S.loading = true;
  status('Loading ' + S.tracks.length + ' previews…');
  const ctx = ensureCtx(config.sample_rate);
  try {
    const buffers = await Promise.all(S.tracks.map(async (t) => {
      const response = await fetch(new URL(t.url, baseUrl()).toString());
      if (!response.ok) throw new Error('could not fetch ' + t.label + ' (' + response.status + ')');
      return await ctx.decodeAudioData(await response.arrayBuffer());
    }));
    if (generation !== S.generation) return;
    S.buffers = buffers;
    S.gains = buffers.map(() => { const g = ctx.createGain(); g.gain.value = 0; g.connect(ctx.destination); return g; });
    S.duration = Math.max(...buffers.map(b => b.duration));
    S.x = Math.floor(Math.random() * buffers.length);
    S.loaded = true;
    S.tracks.forEach((t, i) => {
      const b = document.createElement('button');
      b.className = 'ab-take'; b.id = 'ab-take-' + (i + 1); b.title = 'key ' + (i + 1);
      b.textContent = (i + 1) + ' · ' + t.label + ' · ' + t.name + ' (' + Number(t.lufs).toFixed(1) + ' LUFS)';
      b.addEventListener('click', () => select(i));
      if (box) box.appendChild(b);
    });
    applyGains(false);
    mirrorActive();
    status(buffers.length + ' takes ready at ' + Number(config.target_lufs).toFixed(1) + ' LUFS' +
           (config.crossfeed ? ', crossfeed ' + Number(config.crossfeed).toFixed(2) : '') +
           ' — keys 1-' + buffers.length + ' switch, X hidden take, space plays, L loops');
  } catch (e) {
    S.error = String(e && e.message || e);
    status('Could not load the previews: ' + S.error);
  } finally {
    S.loading = false;
  }
  render();
}

q('.ab-play').addEventListener('click', () => toggle());
q('.ab-loop').addEventListener('click', () => toggleLoop());
q('.ab-x').addEventListener('click', () => select('x'));
q('.ab-reveal').addEventListener('click', () => { S.xRevealed = true; mirrorActive(); render(); });
q('.ab-loop-in').addEventListener('click', () => setLoop(position(), Math.max(S.loop.end > position() ? S.loop.end : S.duration, position() + 0.1)));
q('.ab-loop-out').addEventListener('click', () => setLoop(S.loop.start, position()));
q('.ab-loop-start').addEventListener('change', (e) => setLoop(e.target.value, S.loop.end > 0 ? S.loop.end : S.duration));
q('.ab-loop-end').addEventListener('change', (e) => setLoop(S.loop.start, e.target.value));
q('.ab-fade').addEventListener('change', (e) => setLoop(S.loop.start, S.loop.end, Number(e.target.value) / 1000));
q('.ab-seek').addEventListener('input', (e) => seek(Number(e.target.value)));
q('.ab-wave').addEventListener('click', (e) => {
  const r = e.target.getBoundingClientRect();
  seek((e.clientX - r.left) / r.width * S.duration);
});

function onKey(e) {
  if (!S.loaded) return;
  const t = e.target;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
  if (!element.isConnected || element.offsetParent === null) return;   // tab hidden
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key >= '1' && e.key <= '4') { select(Number(e.key) - 1); e.preventDefault(); }
  else if (e.key === ' ' || e.code === 'Space') { toggle(); e.preventDefault(); }
  else if (e.key === 'l' || e.key === 'L') { toggleLoop(); e.preventDefault(); }
  else if (e.key === 'x' || e.key === 'X') { select('x'); e.preventDefault(); }
}
if (window.__lanternABKey) document.removeEventListener('keydown', window.__lanternABKey);
window.__lanternABKey = onKey;
document.addEventListener('keydown', onKey);

window.lanternAB = {
  state: () => ({loaded: S.loaded, loading: S.loading, error: S.error, playing: S.playing, active: S.active,
                 position_s: position(), duration_s: S.duration, tracks: S.tracks.map(t => t.label),
                 loop: {on: S.loop.on, start_s: S.loop.start, end_s: S.loop.end, fade_s: S.loop.fade_s,
                        length_s: S.loopBuffers.length ? loopLength() : 0},
                 switches: S.switches.slice(), context_state: S.ctx ? S.ctx.state : null,
                 sample_rate: S.ctx ? S.ctx.sampleRate : null}),
  play: play, pause: pause, select: select, seek: seek, setLoop: setLoop, toggleLoop: toggleLoop,
  // the samples the loop plays for one take and channel (tests compare them with the Python recipe)
  loopSamples: (track, channel) => S.loopBuffers[track] ? Array.from(S.loopBuffers[track].getChannelData(channel || 0)) : null,
  revealed: () => (S.xRevealed && S.x !== null) ? S.tracks[S.x].label : null,
};

watch('value', () => load(parseConfig(props.value)));
load(parseConfig(props.value));
"""


def file_url(path: str | Path) -> str:
    """The URL (relative to the app root) under which Gradio serves an allowed file."""
    return "gradio_api/file=" + str(Path(path).resolve())


def player_value(previews: Iterable[Any], *, target_lufs: float, crossfeed: float = 0.0,
                 mirror_id: str | None = None, active_mirror_id: str | None = None,
                 heard_mirror_id: str | None = None, message: str = "") -> str:
    """The player's value (a JSON string) for a list of ``engines.audio.preview.Preview``.

    The loop region is mirrored into the textbox ``mirror_id``, the id of the take being heard (the hidden X
    included) into ``active_mirror_id``, and what is heard, in words ("B · name", "X (hidden)"), into
    ``heard_mirror_id``.
    """
    previews = list(previews)
    tracks = [{"label": p.label, "name": p.name, "take_id": p.take_id, "url": file_url(p.path),
               "lufs": round(float(p.integrated_lufs), 2), "true_peak_dbtp": round(float(p.true_peak_dbtp), 2),
               "duration_s": round(float(p.duration_s), 3)} for p in previews]
    config: dict[str, Any] = {"tracks": tracks, "target_lufs": float(target_lufs), "crossfeed": float(crossfeed),
                              "sample_rate": int(previews[0].sample_rate) if previews else None,
                              "mirror_id": mirror_id, "active_mirror_id": active_mirror_id,
                              "heard_mirror_id": heard_mirror_id, "message": message}
    return json.dumps(config)


def empty_value(*, mirror_id: str | None = None, message: str = "") -> str:
    return json.dumps({"tracks": [], "mirror_id": mirror_id, "message": message})


def ab_player(*, elem_id: str = PLAYER_ELEM_ID, mirror_id: str | None = None) -> gr.HTML:
    """Build the player component (call inside a Blocks context)."""
    return gr.HTML(value=empty_value(mirror_id=mirror_id), html_template=TEMPLATE, css_template=CSS, js_on_load=JS,
                   elem_id=elem_id, apply_default_css=True)
