"""Run a batch plan's items as Ray tasks and write what comes back into the output folder.

- With no address, Ray starts here, bound to loopback only, with one worker per core; an address (or
  ``RAY_ADDRESS``) joins an existing cluster, checked for reachability first so a wrong one fails in seconds.
- Each item is one task (:func:`lantern_studio.engines.batch.work.run_item`); its files come back as bytes
  through Ray, so no filesystem is shared, and are written here atomically, then a marker naming what made
  them. A rerun skips every item whose marker and files match (resumable).
- Ray retries a task whose worker died or that failed for a reason another try may not meet; an item that
  still fails is reported with its error and never stops the others. ``cancel`` (or Ctrl+C) cancels the
  items still running and keeps every finished one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from lantern_studio.engines.jobs import cancel_requested
from lantern_studio.engines.atomic import atomic_write_bytes, atomic_write_json
from lantern_studio.engines.batch.plan import BatchItem, BatchPlan
from lantern_studio.engines.safety import safe_join

MARKER_NAME = ".lantern-batch.json"
MARKER_VERSION = 1
CONNECT_CHECK_S = 10.0        # a TCP answer from the cluster's head, before Ray is asked
RAY_INIT_TIMEOUT_S = 18.0     # Ray's own connection, after that; together well under 30 s
DEFAULT_RETRIES = 2
WAIT_STEP_S = 0.25
SOCKET_PATH_MAX_BYTES = 107   # sun_path on Linux, less its terminating NUL

Progress = Callable[[int, int, str], None]


class BatchConnectError(RuntimeError):
    """Ray could not be started or reached; the message says what to do."""


@dataclass
class ItemResult:
    name: str
    kind: str
    status: str                          # "done" | "skipped" | "failed" | "cancelled"
    files: list[Path] = field(default_factory=list)
    error: str | None = None


@dataclass
class BatchReport:
    out_dir: Path
    results: list[ItemResult]
    workers: int = 0
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def ok(self) -> bool:
        return all(r.status in ("done", "skipped") for r in self.results)


# ------------------------------------------------------------------------------------------------
# resuming: what a finished item left, and whether it is still what the plan asks
# ------------------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def item_key(item: BatchItem, input_bytes: Mapping[str, bytes]) -> str:
    """A digest of everything that decides the item's files: its kind, options and input files' bytes."""
    recipe = {"kind": item.kind, "options": dict(item.options),
              "inputs": {name: _sha256(data) for name, data in sorted(input_bytes.items())}}
    return _sha256(json.dumps(recipe, sort_keys=True, ensure_ascii=False).encode("utf-8"))


def finished_files(item_dir: Path, key: str) -> list[Path] | None:
    """The item's files if its marker says ``key`` made them and every file is still as written, else None."""
    try:
        marker = json.loads((item_dir / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("key") != key or not isinstance(marker.get("files"), dict):
        return None
    paths = []
    for name, digest in marker["files"].items():
        try:
            path = safe_join(item_dir, name)
            if _sha256(path.read_bytes()) != digest:
                return None
        except (OSError, ValueError):
            return None
        paths.append(path)
    return paths


def write_item(item_dir: Path, item: BatchItem, key: str, files: Mapping[str, bytes]) -> list[Path]:
    """Write an item's files atomically, then its marker; files an older version of the item left are removed."""
    marker_path = item_dir / MARKER_NAME
    try:
        old = json.loads(marker_path.read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError, AttributeError):
        old = {}
    # the marker goes first, so a crash while writing leaves an item that reruns, never one that looks finished
    marker_path.unlink(missing_ok=True)
    written = [atomic_write_bytes(safe_join(item_dir, name), data) for name, data in files.items()]
    for name in set(old) - set(files):
        try:
            safe_join(item_dir, name).unlink(missing_ok=True)
        except (OSError, ValueError):
            pass
    atomic_write_json(marker_path, {"version": MARKER_VERSION, "key": key, "kind": item.kind,
                                    "options": dict(item.options),
                                    "files": {name: _sha256(data) for name, data in files.items()}})
    return written


# ------------------------------------------------------------------------------------------------
# Ray: local on loopback, or a cluster
# ------------------------------------------------------------------------------------------------


def _check_reachable(address: str) -> None:
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise BatchConnectError(f"--address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379, or "
                                "ray://10.0.0.5:10001 for Ray Client); leave it out to run on this machine")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_CHECK_S):
            pass
    except OSError as error:
        raise BatchConnectError(
            f"cannot reach the Ray cluster at {address} ({error.strerror or error}). Start its head there with "
            "`ray start --head --port 6379`, check the address and that the port is open, or leave --address "
            "(and RAY_ADDRESS) out to run on this machine") from None


def _init_with_timeout(ray, kwargs: dict, address: str) -> None:
    failure: list[BaseException] = []

    def connect() -> None:
        try:
            ray.init(**kwargs)
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            failure.append(error)

    thread = threading.Thread(target=connect, name="ray-init", daemon=True)
    thread.start()
    thread.join(RAY_INIT_TIMEOUT_S)
    if thread.is_alive():
        raise BatchConnectError(f"the Ray cluster at {address} answered but did not accept this driver within "
                                f"{RAY_INIT_TIMEOUT_S:.0f} s; check that it runs Ray {ray.__version__} and the "
                                "same Python, or leave --address out to run on this machine")
    if failure:
        raise BatchConnectError(f"could not join the Ray cluster at {address}: {failure[0]}; check that it runs "
                                f"Ray {ray.__version__}, or leave --address out to run on this machine")


def import_ray(*, local: bool):
    """Import Ray; for a local start, first make it choose loopback as this node's address."""
    if local and "ray" not in sys.modules:
        # Ray otherwise resolves 127.0.0.1 to this machine's outward address and listens there; with clusters
        # off it keeps the loopback address, and every server binds to it
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise BatchConnectError("Ray is not installed; run `python launch.py batch ...` (it installs the "
                                "scale extra), or `pip install \"lantern-studio[scale]\"`") from None
    return ray


def _ray_temp_dir() -> str | None:
    """Where a local Ray keeps its session (None: Ray's own choice, the temp folder's ``ray``).

    Ray puts Unix sockets in ``<dir>/session_<date>_<pid>/sockets/``, and a socket path may not exceed 107
    bytes; a deep temp folder (the studio's own, under the studio home) breaks that, so Ray then gets the
    short ``/tmp/ray`` it uses by default on Linux."""
    if os.environ.get("RAY_TMPDIR") or os.name != "posix":
        return None
    import tempfile

    default = Path(tempfile.gettempdir()) / "ray"
    longest_suffix = len("/session_2026-12-06_01-12-47_715189_4194304/sockets/plasma_store")
    if len(os.fsencode(default)) + longest_suffix <= SOCKET_PATH_MAX_BYTES:
        return None
    return "/tmp/ray"


class RaySession:
    """Ray for one batch: reused when already running here, else started (and stopped afterwards)."""

    def __init__(self, *, address: str | None = None, num_workers: int | None = None):
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.num_workers = num_workers
        self.started = False
        self.ray = None

    def __enter__(self):
        if self.address not in (None, "auto"):
            _check_reachable(self.address)
        ray = import_ray(local=self.address is None)
        self.ray = ray
        if ray.is_initialized():
            return self
        import logging

        common = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
        if self.address is None:
            workers = self.num_workers or os.cpu_count() or 1
            try:
                ray.init(_node_ip_address="127.0.0.1", num_cpus=workers, _temp_dir=_ray_temp_dir(), **common)
            except Exception as error:  # noqa: BLE001 - Ray raises many kinds; the message matters
                raise BatchConnectError(f"could not start Ray on this machine: {error}") from None
            node_ip = ray.util.get_node_ip_address()
            if node_ip not in ("127.0.0.1", "::1"):
                # Ray was imported before import_ray could keep it on loopback: never serve beyond it unasked
                ray.shutdown()
                raise BatchConnectError(f"Ray would listen on {node_ip}, not only on 127.0.0.1, because it was "
                                        "imported before the batch started it; run the batch in a new process, "
                                        "or give --address to use a cluster on purpose")
        else:
            _init_with_timeout(ray, {"address": self.address, **common}, self.address)
        self.started = True
        return self

    def __exit__(self, *exc) -> None:
        if self.started:
            self.ray.shutdown()

    def workers(self) -> int:
        return int(self.ray.cluster_resources().get("CPU", 0))


# ------------------------------------------------------------------------------------------------
# the batch
# ------------------------------------------------------------------------------------------------


def _task(kind: str, options: Mapping[str, Any], inputs: Mapping[str, bytes], settings: Any,
          export_epoch: int | None) -> dict[str, bytes]:
    from lantern_studio.engines.batch.work import run_item

    return run_item(kind, options, inputs, settings, export_epoch=export_epoch)


def _error_text(error: BaseException) -> str:
    """What went wrong with an item, in words: the command's own message for bad input or a failure, the
    exception for anything else (Ray wraps a task's exception; ``cause`` is the original)."""
    from lantern_studio.engines.batch.work import ItemFailed, ItemInputError

    cause = getattr(error, "cause", None) or error
    if isinstance(cause, (ItemInputError, ItemFailed)):
        return str(cause)
    name = type(cause).__name__
    if any(word in name for word in ("WorkerCrashed", "NodeDied", "OutOfMemory")):
        return (f"the worker running it died on every try ({name}); it may be short of memory: run fewer items at "
                "once (--workers) or give the machine more memory")
    lines = str(cause).strip().splitlines()
    return f"{name}: {lines[-1]}" if lines else name


def pending_items(plan: BatchPlan, out_dir: Path) -> tuple[list[tuple[BatchItem, str, dict]], list[ItemResult]]:
    """Split the plan into items still to run (with their key and input bytes) and finished ones (skipped)."""
    todo, skipped = [], []
    for item in plan.items:
        inputs = {name: Path(path).read_bytes() for name, path in item.inputs.items()}
        key = item_key(item, inputs)
        files = finished_files(out_dir / item.name, key)
        if files is not None:
            skipped.append(ItemResult(item.name, item.kind, "skipped", files))
        else:
            todo.append((item, key, inputs))
    return todo, skipped


def run_batch(plan: BatchPlan, out_dir: str | Path, settings: Any, *, address: str | None = None,
              num_workers: int | None = None, max_retries: int = DEFAULT_RETRIES,
              progress: Progress | None = None, cancel: Callable[[], bool] | None = None,
              export_epoch: int | None = None) -> BatchReport:
    """Run every unfinished item of ``plan`` on Ray and write its files under ``out_dir/<item name>/``.

    Parameters
    ----------
    plan : BatchPlan
        From :func:`lantern_studio.engines.batch.plan.load_plan`.
    out_dir : str or Path
        Where each item's folder goes (made if missing).
    settings : Settings
        Passed to every item (models folder, device).
    address : str, optional
        A Ray cluster (``HOST:PORT``, ``ray://HOST:10001`` or ``auto``); else ``RAY_ADDRESS``; else Ray starts
        here on loopback.
    num_workers : int, optional
        Items run at once when Ray starts here (default: one per core).
    max_retries : int
        Further tries of an item whose worker died or that failed for a passing reason.
    progress : callable, optional
        ``progress(finished, total, message)`` after each item; skipped items count as finished.
    cancel : callable, optional
        Polled while items run; when it returns True the rest are cancelled and the finished ones kept.
    export_epoch : int, optional
        The date stamped into PDFs and CBZs (default: ``SOURCE_DATE_EPOCH``, else the batch's start).

    Returns
    -------
    BatchReport
        One result per item, in the plan's order. Ctrl+C gives a report with ``interrupted`` set.
    """
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    if export_epoch is None:
        epoch_text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        export_epoch = int(epoch_text) if epoch_text.isdigit() else int(time.time())
    todo, skipped = pending_items(plan, out)
    results = {r.name: r for r in skipped}
    total = len(plan.items)

    def tell(message: str) -> None:
        if progress is not None:
            progress(sum(1 for r in results.values() if r.status != "cancelled"), total, message)

    tell(f"{len(skipped)} finished item(s) skipped" if skipped else "starting")
    report = BatchReport(out_dir=out, results=[])
    if todo:
        with RaySession(address=address, num_workers=num_workers) as session:
            report.workers = session.workers()
            report.interrupted = _run_on_ray(session.ray, todo, out, settings, results, tell, cancel,
                                             max_retries=max_retries, export_epoch=export_epoch)
    report.results = [results[item.name] for item in plan.items]
    return report


def _run_on_ray(ray, todo, out: Path, settings: Any, results: dict, tell: Callable[[str], None],
                cancel: Callable[[], bool] | None, *, max_retries: int, export_epoch: int) -> bool:
    from lantern_studio.engines.batch.work import ItemFailed

    remote = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=[ItemFailed])(_task)
    # the items need the models folder and device, never the studio's login, which would travel to every node
    if dataclasses.is_dataclass(settings) and getattr(settings, "auth", None) is not None:
        settings = dataclasses.replace(settings, auth=None)
    settings_ref = ray.put(settings)
    running = {}
    for item, key, inputs in todo:
        ref = remote.options(name=f"lantern-batch:{item.name}").remote(item.kind, dict(item.options), inputs,
                                                                        settings_ref, export_epoch)
        running[ref] = (item, key)
    interrupted = False
    try:
        while running:
            if cancel_requested(cancel):
                interrupted = True
                break
            ready, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_STEP_S)
            for ref in ready:
                item, key = running.pop(ref)
                try:
                    files = ray.get(ref)
                except Exception as error:  # noqa: BLE001 - one item's failure never stops the others
                    results[item.name] = ItemResult(item.name, item.kind, "failed", error=_error_text(error))
                    tell(f"{item.name} failed: {results[item.name].error}")
                    continue
                try:
                    written = write_item(out / item.name, item, key, files)
                except (OSError, ValueError) as error:
                    results[item.name] = ItemResult(item.name, item.kind, "failed",
                                                    error=f"could not write into {out / item.name}: {error}")
                    tell(f"{item.name} failed: {results[item.name].error}")
                    continue
                results[item.name] = ItemResult(item.name, item.kind, "done", written)
                tell(f"{item.name} done ({len(written)} files)")
    except KeyboardInterrupt:
        interrupted = True
    if interrupted:
        for ref, (item, _) in running.items():
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - an item that finished meanwhile cannot be cancelled
                pass
            results[item.name] = ItemResult(item.name, item.kind, "cancelled", error="cancelled before it finished")
        tell(f"cancelled {len(running)} item(s); the finished ones are kept")
    return interrupted
