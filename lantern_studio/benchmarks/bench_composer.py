"""Benchmark family "composer": the embedded festival composer, end to end, against pretty_midi.

Scenario: one Lion Dance take of D seconds (five stems: suona melody, big drum, gongs, cymbals,
firecrackers) at 48 kHz stereo: compose the score, synthesise every part, place it with reverb, mix with
``kernels.mix``, master to -16 LUFS under -1 dBTP with ``kernels.dsp``, write the MIDI. The target is a
60 s piece in at most 2 s on the 2-core development machine.

Peers, measured in the same run on the same score:

* **pretty_midi**: ``PrettyMIDI.synthesize`` of the composer's own MIDI file at 48 kHz (a sine per note,
  mono, no percussion, no reverb, mix or mastering: strictly less work; the usual "render my MIDI" baseline
  when no SoundFont is installed).
* **symbolic part** (in the scenario text, not a peer): the compose + MIDI step alone, to show what the
  sound costs.

Run standalone: ``python -m benchmarks.bench_composer [--quick]``.
"""

from __future__ import annotations

import io
import time

from lantern_studio.benchmarks.timing import figure, make_row, measure
from lantern_studio.engines.music.base import GenerationRequest
from lantern_studio.engines.music.composer import ComposerEngine, compose, preset_params
from lantern_studio.engines.music.midi import score_to_midi
from lantern_studio.engines.music.presets import load_preset

SAMPLE_RATE = 48_000
PRESET = "lion-dance"
TARGET_S_PER_MINUTE = 2.0


def _pretty_midi_seconds(midi: bytes, repeats: int) -> tuple[float | None, str | None]:
    try:
        import pretty_midi
    except ImportError:
        return None, "pretty_midi is not installed (pip install pretty-midi)"
    score = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    timing = measure(lambda: score.synthesize(fs=SAMPLE_RATE), repeats=repeats, warmup=0)
    return timing.median, None


def run(*, quick: bool, device: str = "auto", progress=None) -> list[dict]:
    """Benchmark rows (see benchmarks/timing.py) for the composer. ``device`` is ignored: it is CPU numpy."""
    durations = [20.0] if quick else [60.0, 180.0]
    repeats = 3 if quick else 5
    engine = ComposerEngine()
    rows = []
    for index, duration_s in enumerate(durations):
        def step(fraction, message, _i=index):
            if progress is not None:
                progress((_i + fraction) / len(durations), message)

        request = GenerationRequest(preset=PRESET, seed=7, duration_s=duration_s)
        step(0.0, f"composer: {duration_s:.0f} s {PRESET} (first run compiles the kernels)")
        take = engine.generate(request)[0]
        cpu_start = time.process_time()
        ours = measure(lambda: engine.generate(request), repeats=repeats, warmup=0)
        cpu_s = (time.process_time() - cpu_start) / repeats
        value, spread = figure(ours, "seconds")
        audio_s = take.duration_s
        peers, skipped = {}, {}
        step(0.6, "symbolic only (compose + MIDI)")
        params = preset_params(load_preset(PRESET), seed=7, duration_s=duration_s)
        symbolic = measure(lambda: score_to_midi(compose(params)), repeats=repeats, warmup=1)
        # a breakdown of our own time, not a competitor: it goes into the scenario text, not the peers
        step(0.8, "pretty_midi synthesize of the same MIDI")
        seconds, reason = _pretty_midi_seconds(take.midi, repeats=1 if duration_s > 100 else repeats)
        if reason:
            skipped["pretty_midi"] = reason
        else:
            peers["pretty_midi synthesize (sines, same MIDI)"] = seconds
        budget_s = TARGET_S_PER_MINUTE * duration_s / 60.0
        rows.append(make_row(
            family="composer",
            scenario=(f"{PRESET} {audio_s:.0f} s, {len(take.stems)} stems, 48 kHz stereo: compose+synth+mix+master+MIDI "
                      f"(target <= {budget_s:.1f} s; CPU {cpu_s:.2f} s per take; symbolic part "
                      f"{symbolic.median:.3f} s)"),
            metric="seconds", value=value, spread=spread, peers=peers, device="cpu", skipped=skipped,
            realtime=value <= budget_s))
        step(1.0, "done")
    return rows


def main(argv=None) -> int:
    from lantern_studio.benchmarks.runner import run_standalone

    rows = run_standalone(run, __doc__, quick_help="one 20 s take instead of 60 s and 180 s", argv=argv)
    for row in rows:
        peers = ", ".join(f"{k}: {v:.3f} s" for k, v in row["peers"].items())
        print(f"{row['scenario']}: {row['value']:.3f} s (min {row['spread'][0]:.3f}, max {row['spread'][1]:.3f}); "
              f"peers {peers}; within target: {row['realtime']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
