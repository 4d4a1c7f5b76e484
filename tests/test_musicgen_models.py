"""Finding MusicGen checkpoints on disk, and the messages for missing and damaged ones."""

from __future__ import annotations

import shutil

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("audiocraft")

from lantern_studio.engines.music import musicgen_models as models  # noqa: E402
from lantern_studio.engines.music import musicgen_tiny as tiny  # noqa: E402
from lantern_studio.engines.music.base import GenerationRequest  # noqa: E402
from lantern_studio.engines.music.musicgen import MusicGenEngine  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)   # 2 shared cores: intra-op threads only fight other processes here
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny.save_checkpoint(tmp_path_factory.mktemp("src") / "tiny", tiny.lm_config(), tiny.compression_config())


def copy_checkpoint(source, target):
    target.mkdir(parents=True)
    for name in (models.LM_FILE, models.COMPRESSION_FILE):
        shutil.copy(source / name, target / name)
    return target


def hub_layout(cache, repo_id, source, revision="0123abcd"):
    """A Hugging Face hub cache entry as huggingface_hub lays it out."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    copy_checkpoint(source, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return repo / "snapshots" / revision


def test_finds_models_dir_subfolders_and_the_hub_cache(checkpoint, tmp_path):
    models_dir, cache = tmp_path / "models", tmp_path / "hf"
    copy_checkpoint(checkpoint, models_dir / "my-finetune")
    copy_checkpoint(checkpoint, models_dir / "musicgen" / "festival-ft")
    (models_dir / "not-a-model").mkdir()
    snapshot = hub_layout(cache, "facebook/musicgen-small", checkpoint)
    hub_layout(cache, "google-t5/t5-base", checkpoint).joinpath(models.COMPRESSION_FILE).unlink()  # not MusicGen

    found = {loc.name: loc for loc in models.find_models(models_dir, hf_cache_dir=cache)}
    assert set(found) == {"my-finetune", "musicgen/festival-ft", "facebook/musicgen-small"}
    assert found["my-finetune"].source == "models-dir" and found["facebook/musicgen-small"].source == "hf-cache"
    assert found["facebook/musicgen-small"].path == snapshot
    assert models.resolve_model("small", models_dir, hf_cache_dir=cache).path == snapshot
    assert models.resolve_model("festival-ft", models_dir, hf_cache_dir=cache).name == "musicgen/festival-ft"

    engine = MusicGenEngine(models_dir, device="cpu", hf_cache_dir=cache)
    assert engine.available().ready and "facebook/musicgen-small" in engine.available().message
    take, = engine.generate(GenerationRequest(prompt="x", duration_s=1.0, seed=1, params={"model": "small"}))
    assert take.model == "facebook/musicgen-small" and engine.loaded_model == "facebook/musicgen-small"


def test_inspect_reads_the_config_without_loading(checkpoint):
    info = models.inspect_model(models.ModelLocation("tiny", checkpoint, "path"))
    assert (info.window_s, info.sample_rate, info.frame_rate, info.n_q, info.card) == (20.0, 8000, 10.0, 2, 32)
    assert not info.melody and info.channels == 1 and info.text_encoder is None
    lm, compression = tiny.build_models(tiny.lm_config(), tiny.compression_config())
    assert info.lm_parameters == sum(t.numel() for t in lm.state_dict().values())
    assert info.compression_parameters == sum(t.numel() for t in compression.state_dict().values())


def test_missing_model_says_which_where_and_the_command(tmp_path, monkeypatch):
    monkeypatch.delenv("LANTERN_ALLOW_DOWNLOADS", raising=False)
    models_dir, cache = tmp_path / "models", tmp_path / "hf"
    models_dir.mkdir()
    engine = MusicGenEngine(models_dir, device="cpu", hf_cache_dir=cache)
    status = engine.available()
    assert not status.ready
    for text in ("'facebook/musicgen-small'", str(models_dir), str(cache),
                 "snapshot_download('facebook/musicgen-small'", "LANTERN_ALLOW_DOWNLOADS=1", "composer"):
        assert text in status.message
    with pytest.raises(models.ModelNotFoundError, match="musicgen-medium") as error:
        engine.generate(GenerationRequest(prompt="x", duration_s=1.0, params={"model": "medium"}))
    assert "snapshot_download('facebook/musicgen-medium'" in str(error.value)
    with pytest.raises(models.ModelNotFoundError, match="Put a folder named 'my-ft'"):
        engine.load("my-ft")


@pytest.mark.parametrize("damage, broken", [
    ("truncate", models.LM_FILE),
    ("garbage", models.COMPRESSION_FILE),
    ("empty", models.LM_FILE),
    ("missing", models.COMPRESSION_FILE),
    ("other-model", models.LM_FILE),
])
def test_damaged_checkpoint_names_the_file(checkpoint, tmp_path, damage, broken):
    folder = copy_checkpoint(checkpoint, tmp_path / "models" / "bad")
    target = folder / broken
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    elif damage == "garbage":
        target.write_bytes(b"\x00not a checkpoint" * 100)
    elif damage == "empty":
        target.write_bytes(b"")
    elif damage == "missing":
        target.unlink()
    else:   # weights of a different shape under this config
        package = torch.load(target, weights_only=True)
        other = tiny.build_models(tiny.lm_config(dim=32), tiny.compression_config())[0]
        package["best_state"] = other.state_dict()
        torch.save(package, target)
    engine = MusicGenEngine(tmp_path / "models", device="cpu", hf_cache_dir=tmp_path / "hf")
    with pytest.raises(models.CheckpointError) as error:
        engine.load("bad")
    assert str(target) in str(error.value)
    assert engine.loaded_model is None


def test_checkpoint_with_a_t5_text_encoder_that_is_not_cached(checkpoint, tmp_path, monkeypatch):
    monkeypatch.delenv("LANTERN_ALLOW_DOWNLOADS", raising=False)
    folder = copy_checkpoint(checkpoint, tmp_path / "models" / "t5model")
    package = torch.load(folder / models.LM_FILE, weights_only=True)
    package["xp.cfg"] = package["xp.cfg"].replace(
        "model: lut", "model: t5\n    t5:\n      name: t5-base\n      finetune: false")
    torch.save(package, folder / models.LM_FILE)
    info = models.inspect_model(models.resolve_model("t5model", tmp_path / "models", hf_cache_dir=tmp_path / "hf"))
    assert info.text_encoder == "t5-base"
    with pytest.raises(models.ModelNotFoundError, match="text encoder 't5-base'"):
        models.check_dependencies(info, demucs_loader=None, hf_cache_dir=tmp_path / "hf")


def test_downloads_only_when_the_user_allowed_them(checkpoint, tmp_path, monkeypatch):
    import huggingface_hub

    calls = []

    def snapshot_download(repo_id, allow_patterns=None, cache_dir=None):
        calls.append(repo_id)
        return str(hub_layout(tmp_path / "hf", repo_id, checkpoint))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    engine = MusicGenEngine(tmp_path / "models", device="cpu", hf_cache_dir=tmp_path / "hf")
    monkeypatch.delenv("LANTERN_ALLOW_DOWNLOADS", raising=False)
    with pytest.raises(models.ModelNotFoundError):
        engine.load("small")
    assert calls == []

    monkeypatch.setenv("LANTERN_ALLOW_DOWNLOADS", "1")
    info = engine.load("small")
    assert calls == ["facebook/musicgen-small"] and info.location.name == "facebook/musicgen-small"
    assert engine.loaded_model == "facebook/musicgen-small"
