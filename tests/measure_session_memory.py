"""Measure the studio's resident memory over many browser-like sessions on 127.0.0.1.

Each session does what a page load does: it opens the heartbeat stream, runs every ``load`` event through the
queue, reads their results, then closes the heartbeat (the window goes away). The studio's RSS is read from
/proc after a warm-up and after all sessions. ``--keep-sessions`` starts the studio with the per-window release
turned off, for the figure without it.

    .venv/bin/python tests/measure_session_memory.py --sessions 300 [--keep-sessions]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from lantern_testkit import free_port, wait_for_http  # noqa: E402

SERVER = """
import sys
from lantern_studio.engines.run_temp import claim
from lantern_studio.engines.settings import Settings, apply_process_environment
from lantern_studio.studio import app
settings = Settings.resolve(None)
apply_process_environment(settings)
claim(settings.temp_dir)
if sys.argv[1] == "keep":
    app.release_sessions_on_unload = lambda demo: None
sys.exit(app.serve(settings))
"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def one_session(url: str, load_ids: list[int]) -> None:
    session = uuid.uuid4().hex[:11]
    with httpx.Client(base_url=url, timeout=60) as client:
        with client.stream("GET", f"gradio_api/heartbeat/{session}") as heartbeat:
            alive = heartbeat.iter_lines()     # kept: dropping the iterator would close the heartbeat
            next(alive)
            for fn_index in load_ids:
                client.post("gradio_api/queue/join", json={"data": [], "fn_index": fn_index, "session_hash": session,
                                                           "event_data": None, "trigger_id": None}).raise_for_status()
            done = 0
            with client.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data:") and json.loads(line[5:]).get("msg") == "process_completed":
                        done += 1
                        if done == len(load_ids):
                            break


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--keep-sessions", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        env = {**os.environ, "LANTERN_HOME": home, "LANTERN_NO_BROWSER": "1", "LANTERN_PORT": str(port)}
        log_path = Path(home) / "studio.log"
        with open(log_path, "w") as log:
            server = subprocess.Popen([sys.executable, "-c", SERVER, "keep" if args.keep_sessions else "release"],
                                      cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_for_http(url, server, log_path, 180)
                config = httpx.get(url + "config", timeout=60).json()
                load_ids = [d["id"] for d in config["dependencies"]
                            if any(t[1] == "load" for t in d["targets"]) and not d["inputs"]]
                for _ in range(args.warmup):
                    one_session(url, load_ids)
                time.sleep(3)
                before = rss_mb(server.pid)
                for _ in range(args.sessions):
                    one_session(url, load_ids)
                time.sleep(3)                    # the unload events run after the heartbeats close
                after = rss_mb(server.pid)
            finally:
                server.terminate()
                server.wait(30)
    figures = {"release": not args.keep_sessions, "sessions": args.sessions, "load_events": len(load_ids),
               "rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1),
               "mb_per_session": round((after - before) / args.sessions, 3)}
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
