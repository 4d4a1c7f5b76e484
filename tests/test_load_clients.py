"""Load: 20 concurrent gradio_client clients generate composer takes on a loopback studio started with launch.py.

All jobs complete (they go through the one GPU-job slot, so the others wait in Gradio's queue and are told their
position); none errors; afterwards the project on disk holds exactly the takes the clients asked for — one per
client, with the client's seed — each intact. ``LANTERN_LOAD_CLIENTS`` changes the number of clients.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from lantern_testkit import StudioServer

gradio_client = pytest.importorskip("gradio_client")

CLIENTS = int(os.environ.get("LANTERN_LOAD_CLIENTS", "20"))
DURATION_S = 6           # the composer rounds up to a whole verse-chorus loop (7.3 s for the default preset)
SEED_BASE = 424_200


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    studio = StudioServer(tmp_path_factory.mktemp("load-home"))
    yield studio
    studio.stop()


def _generate_args(seed: int) -> tuple:
    # the Music tab's controls then its filters: engine, preset, prompt, duration, takes, seed mode, seed, params,
    # model, starred-only, engine filter, search, sort
    return ("composer", None, f"load client {seed}", DURATION_S, 1, "fixed", seed, "{}", None,
            False, "all", "", "newest first")


def test_twenty_concurrent_clients_all_served_and_the_project_holds_exactly_their_takes(server):
    from gradio_client import Client

    api = Client(server.url, verbose=False).view_api(return_format="dict", print_info=False)
    if "/generate" not in api["named_endpoints"]:
        pytest.skip("the Music tab has no 'generate' endpoint yet")

    ranks: dict[int, list[int]] = {}
    results: dict[int, object] = {}
    errors: dict[int, str] = {}
    start = threading.Barrier(CLIENTS)

    def client_run(index: int) -> None:
        seed = SEED_BASE + index * 10
        client = Client(server.url, verbose=False)
        start.wait(60)
        job = client.submit(*_generate_args(seed), api_name="/generate")
        seen: list[int] = []
        while not job.done():
            status = job.status()
            if status.rank is not None:
                seen.append(int(status.rank))
            time.sleep(0.05)
        ranks[index] = seen
        try:
            results[index] = job.result(timeout=600)
        except Exception as error:  # reported by the assertion below
            errors[index] = f"{type(error).__name__}: {error}"

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        list(pool.map(client_run, range(CLIENTS)))

    assert errors == {}, errors
    assert len(results) == CLIENTS
    for index, result in results.items():
        status_text = result[0] if isinstance(result, (list, tuple)) else result
        assert "Done: 1 of 1 take(s) saved" in str(status_text), (index, status_text)
    # queued clients were told their position: with one slot, someone waited behind at least one other job
    assert max((max(seen) for seen in ranks.values() if seen), default=0) >= 1, ranks

    # the project on disk: exactly one intact take per client, with that client's seed
    from lantern_studio.engines.music.takes import TakeStore
    from lantern_studio.engines.project import Project

    project = Project.open(server.project, create=False)
    store = TakeStore(project)
    takes = store.list(sort="seed", descending=False)
    expected = sorted(SEED_BASE + index * 10 for index in range(CLIENTS))
    assert [t.seed for t in takes] == expected
    for take in takes:
        assert take.engine == "composer" and store.verify(take.id) == []
        assert 0.5 * DURATION_S <= take.duration_s <= 2 * DURATION_S     # the composer rounds to whole bars
        assert take.prompt == f"load client {take.seed}"
    figures = {"clients": CLIENTS, "served": len(results), "errors": len(errors), "takes_in_project": len(takes),
               "max_queue_rank_seen": max(max(s) for s in ranks.values() if s)}
    print("\nload-test figures: " + json.dumps(figures), flush=True)
    project.close()
