"""Kill test on the real studio: launch.py serving the Music tab is SIGKILLed while it generates takes for a
gradio_client; the project then opens with every take the studio reported saved, intact, and no partial file.

CI runs one kill (a studio start costs ~25 s); ``LANTERN_STRESS=1`` runs ``LANTERN_STUDIO_KILLS`` (default 6).
The writer-level kill test with hundreds of kills is tests/test_kill_recovery.py.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time

import pytest

from lantern_studio.engines.atomic import TEMP_PREFIX
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.engines.project import Project

STRESS = os.environ.get("LANTERN_STRESS", "") in ("1", "true", "yes")
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX-only")


STUDIO_KILLS = int(os.environ.get("LANTERN_STUDIO_KILLS", "6" if STRESS else "1"))


def test_studio_killed_during_generation_keeps_every_saved_take(tmp_path):
    """The real studio (launch.py), generating 8 composer takes for a gradio_client, is SIGKILLed after a random
    number of takes were reported saved; the project then opens with every reported take intact."""
    gradio_client = pytest.importorskip("gradio_client")
    from lantern_testkit import StudioServer

    home = tmp_path / "home"
    home.mkdir()
    rng = random.Random(7)
    reported_seeds: set[int] = set()
    figures = {"studio_kills": 0, "takes_reported": 0, "items_lost": 0}
    for round_number in range(STUDIO_KILLS):
        server = StudioServer(home)
        client = gradio_client.Client(server.url, verbose=False)
        if "/generate" not in client.view_api(return_format="dict", print_info=False)["named_endpoints"]:
            server.stop()
            pytest.skip("the Music tab has no 'generate' endpoint yet")
        seed = 10_000 * (round_number + 1)
        job = client.submit("composer", None, "kill me", 20, 8, "fixed", seed, "{}", None, False, "all", "",
                            "newest first", api_name="/generate")
        wanted = rng.randint(1, 5)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not job.done():
            saved = [o for o in job.outputs() if str(o[0]).startswith("Saved ")]
            if len(saved) >= wanted:
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.5))
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(30)
        server._log.close()
        figures["studio_kills"] += 1
        for output in job.outputs():
            text = str(output[0])
            if text.startswith("Saved "):
                reported_seeds.add(int(text.rsplit("(seed ", 1)[1].rstrip(")")))
        project = Project.open(server.project)
        assert not project.recovery.kept
        assert not [p for p in server.project.rglob("*") if p.name.startswith(TEMP_PREFIX)]
        store = TakeStore(project)
        for folder in project.takes_dir.iterdir():
            assert (folder / "take.json").is_file()
        seeds_in_store = {}
        for take in store.list():
            seeds_in_store[take.seed] = take.id
            assert store.verify(take.id) == []
            assert store.load(take.id).audio.shape[0] > 0
        lost = reported_seeds - set(seeds_in_store)
        figures["items_lost"] += len(lost)
        assert not lost, f"takes reported saved and then lost: {sorted(lost)}"
        project.close()
    figures["takes_reported"] = len(reported_seeds)
    print("\nstudio-kill figures: " + json.dumps(figures), flush=True)
    assert reported_seeds
