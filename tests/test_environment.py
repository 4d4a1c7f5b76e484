"""The set-up cannot rot: the locks agree with pyproject.toml, every pin carries hashes, and no import name of
the project is one that an installed distribution provides (transformers imports the index's ``kernels``;
flashy ships a top-level ``tests``)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lantern_testkit import ROOT, load_launcher

launch = load_launcher()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# the platform the locks are resolved for: CPython 3.11 on Linux x86_64
LOCK_MARKERS = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
                "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
                "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}


def declared(extras: tuple[str, ...]) -> list[Requirement]:
    lines = list(PYPROJECT["project"]["dependencies"])
    for extra in extras:
        lines += PYPROJECT["project"]["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


@pytest.mark.parametrize("extras", list(launch.LOCK_FILES))
def test_every_declared_dependency_is_locked_inside_its_range(extras):
    pins = launch.parse_pins(launch.lock_path(extras).read_text(encoding="utf-8"))
    problems = []
    for requirement in declared(extras):
        if requirement.marker is not None and not requirement.marker.evaluate(LOCK_MARKERS):
            continue
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement} is declared but not locked")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{requirement} is declared but {name}=={pins[name]} is locked")
    assert not problems, "\n".join(problems) + "\nrun `python launch.py lock`"


@pytest.mark.parametrize("extras", list(launch.LOCK_FILES))
def test_every_pin_is_exact_with_hashes_and_the_no_deps_pins_are_there(extras):
    text = launch.lock_path(extras).read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 3)[3])        # one block per package, header dropped
    for block in blocks:
        first = block.split(" ", 1)[0]
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[^\s;]+", first), f"not an exact pin: {first!r}"
        assert "--hash=sha256:" in block, f"{first} has no hash"
    pins = launch.parse_pins(text)
    for spec in launch.NO_DEPS_PINS:
        name, version = spec.split("==")
        assert pins.get(canonicalize_name(name)) == version, f"{spec} is missing from {launch.lock_path(extras).name}"


def test_the_dev_lock_pins_the_base_packages_at_the_same_versions():
    base = launch.parse_pins(launch.lock_path(()).read_text(encoding="utf-8"))
    dev = launch.parse_pins(launch.lock_path(("dev",)).read_text(encoding="utf-8"))
    assert {name: dev.get(name) for name in base} == base


def project_import_names() -> set[str]:
    """Every top-level name the project puts on ``sys.path``: its package root, and the test helpers, which
    pytest's ``pythonpath`` makes importable under their file names."""
    pythonpath = PYPROJECT["tool"]["pytest"]["ini_options"]["pythonpath"]
    names = {"lantern_studio", "lantern_launch"}
    for folder in pythonpath:
        names |= {p.stem for p in (ROOT / folder).glob("*.py")}
        names |= {p.name for p in (ROOT / folder).iterdir() if (p / "__init__.py").is_file()}
    return names


def test_no_import_name_of_the_project_is_provided_by_an_installed_distribution():
    provided = importlib.metadata.packages_distributions()
    ours = {"lantern-studio"}
    clashes = {name: provided[name] for name in project_import_names()
               if set(map(canonicalize_name, provided.get(name, ()))) - ours}
    assert not clashes, f"these import names are also installed distributions' names: {clashes}"


def test_the_repository_root_holds_one_package_and_no_module_of_ours_is_importable_from_it():
    # the root is where `python -m` and editable installs put the project: only lantern_studio is a package there,
    # so the design card's folders (kernels/, tests/, ...) cannot shadow anything however the project is run
    packages = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file())
    assert packages == ["lantern_studio"]
    assert sorted(p.name for p in (ROOT / "lantern_studio").iterdir() if (p / "__init__.py").is_file()) == [
        "benchmarks", "engines", "kernels", "studio"]
    assert not (ROOT / "tests" / "__init__.py").exists()


def test_transformers_t5_and_the_mix_kernel_work_in_one_process_with_the_index_kernels_installed():
    """The failure of 2026-12-05: transformers >= 5.25 imports the index's ``kernels`` as T5 loads. In one fresh
    interpreter, started from the repository root as the studio is, both must import and the mix must run."""
    pins = launch.parse_pins(launch.lock_path(("dev",)).read_text(encoding="utf-8"))
    script = """
import importlib.metadata, importlib.util, json, sys
import numpy as np
import transformers.models.t5.modeling_t5  # noqa: F401  (imports the index's `kernels` where transformers needs it)
from lantern_studio.kernels.mix import Stem, mix
spec = importlib.util.find_spec("kernels")
a, b = np.random.default_rng(0).standard_normal((2, 4800, 2)).astype(np.float32) * 0.1
stems = [Stem(a, gain_db=-6.0), Stem(b)]
out = mix(stems, sample_rate=48000, backend="cpu")
ref = mix(stems, sample_rate=48000, backend="reference")
print(json.dumps({"kernels": spec.origin if spec else None, "transformers": importlib.metadata.version("transformers"),
                  "error": float(np.max(np.abs(out - ref))), "peak": float(np.max(np.abs(out)))}))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    found = __import__("json").loads(result.stdout.strip().splitlines()[-1])
    assert found["transformers"] == pins["transformers"]           # the newest version the lock allows
    if found["kernels"] is not None:                                  # the index's package, never a folder of ours
        assert not found["kernels"].startswith(str(ROOT / "kernels")) and "site-packages" in found["kernels"]
    assert found["peak"] > 0.01 and found["error"] < 1e-5
