"""A soloed stem previews at its level in the mix: the render with a solo gets the full mix's master gain,
checked against pyloudnorm and against the linearity of the mix (the solos of two stems add up to the mix)."""

from __future__ import annotations

import numpy as np
import pyloudnorm

from lantern_studio.engines.audio.session import StemSession

RATE = 48_000


def _session() -> StemSession:
    t = np.arange(6 * RATE) / RATE
    loud = 0.25 * np.sin(2 * np.pi * 220 * t)
    quiet = 0.02 * np.sin(2 * np.pi * 1_000 * t + 0.3)      # a cymbal-like part far under the lead
    session = StemSession(sample_rate=RATE)
    session.add_stem("lead", np.stack([loud, loud], axis=1).astype(np.float32))
    session.add_stem("cymbal", np.stack([quiet, 0.8 * quiet], axis=1).astype(np.float32))
    session.set_master(target_lufs=-14.0, ceiling_dbtp=-1.0)
    return session


def _lufs(audio: np.ndarray) -> float:
    return float(pyloudnorm.Meter(RATE).integrated_loudness(audio.astype(np.float64)))


def test_a_solo_keeps_the_full_mix_gain_and_the_solos_add_up_to_the_mix():
    session = _session()
    full = session.render()
    assert abs(_lufs(full.audio) - -14.0) < 0.1

    session.set_stem("cymbal", solo=True)
    cymbal = session.render()
    session.set_stem("cymbal", solo=False)
    session.set_stem("lead", solo=True)
    lead = session.render()

    # the same master gain as the full mix, not the cymbal raised to -14 LUFS on its own
    assert abs(cymbal.master_gain_db - full.master_gain_db) < 1e-6
    assert _lufs(cymbal.audio) < -14.0 - 15.0
    # nothing was limited here, so the mix is linear: solo(lead) + solo(cymbal) == full mix
    np.testing.assert_allclose(lead.audio + cymbal.audio, full.audio, atol=2e-4)


def test_without_a_solo_and_with_normalisation_off_nothing_changes():
    session = _session()
    session.set_stem("cymbal", mute=True)
    alone = session.render()
    # the muted cymbal is out of the mix; the lead alone is brought to the target as a full mix would be
    assert abs(_lufs(alone.audio) - -14.0) < 0.1
    session.set_stem("cymbal", mute=False, solo=True)
    session.set_master(normalize=False)
    raw = session.render()
    assert raw.master_gain_db == 0.0
    np.testing.assert_allclose(raw.audio, session.mix_bus(), atol=1e-6)


def test_the_export_message_names_the_muted_stems_it_leaves_out():
    from lantern_studio.studio.tab_mixer import muted_note

    session = _session()
    assert muted_note(session, True) == ""
    session.set_stem("cymbal", mute=True)
    assert "muted stems left out: cymbal" in muted_note(session, True)
    assert muted_note(session, False) == ""          # no stems exported, nothing left out
