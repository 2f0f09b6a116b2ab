"""Every enhancer end to end through ``sync()``, with the random-weight Wav2Lip and with the
built-in engine, on tiny generated media: the enhancer changes the regenerated region and
nothing else, and the output keeps its length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lipsync import samples
from lipsync.media.video import open_video
from lipsync.models.store import ModelStore
from lipsync.options import SyncOptions
from lipsync.pipeline import SideOutputs, sync

ENHANCERS = ("realesrgan", "realesrgan_fast", "gfpgan_unittest", "codeformer_unittest")
ENGINES = ("wav2lip_unittest", "builtin")
SIZE = (160, 160)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    store = ModelStore(tmp_path_factory.mktemp("enhancer-home"))
    for model in ("wav2lip_unittest", "gfpgan_unittest", "codeformer_unittest"):
        store.install(model)
    return store


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("enhancer-media")
    try:
        speech = samples.speech_wav(folder / "speech.wav", "Hello, map.")
    except samples.ToolNotFoundError as exc:
        pytest.skip(str(exc))
    video = samples.face_video(folder / "face.mp4", seconds=1.0, size=SIZE, audio=speech)
    return video, speech


@pytest.fixture(scope="module")
def plain(
    store: ModelStore, media: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[np.ndarray]]:
    """Each engine's output without an enhancer (lossless, to compare pixels)."""
    video, speech = media
    folder = tmp_path_factory.mktemp("plain")
    outputs = {}
    for engine in ENGINES:
        out = folder / f"{engine}.mkv"
        sync(video, speech, out, SyncOptions(engine=engine, lossless=True), store=store)
        outputs[engine] = list(open_video(out).frames())
    return outputs


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("enhancer", ENHANCERS)
def test_every_enhancer_changes_only_the_regenerated_region(
    engine: str,
    enhancer: str,
    store: ModelStore,
    media: tuple[Path, Path],
    plain: dict[str, list[np.ndarray]],
    tmp_path: Path,
) -> None:
    video, speech = media
    out = tmp_path / "enhanced.mkv"
    options = SyncOptions(engine=engine, enhancer=enhancer, lossless=True, enhance_fidelity=0.3)
    result = sync(video, speech, out, options, store=store)
    frames = list(open_video(out).frames())
    reference = plain[engine]
    assert result.frames == len(frames) == len(reference)

    changed = np.zeros(SIZE[::-1], bool)
    for before, after in zip(reference, frames, strict=True):
        changed |= np.abs(after.astype(int) - before.astype(int)).max(axis=2) > 2
    assert changed.mean() > 0.005, "the enhancer changed nothing"
    rows = np.nonzero(changed)[0]
    # The face fills the middle of the frame: its borders, the hair and the background stay
    # exactly as the engine left them.
    assert not changed[:12].any() and not changed[:, :8].any() and not changed[:, -8:].any()
    if engine == "builtin" and not enhancer.endswith("_unittest"):
        # The mouth region only (face restorers see the whole face but paste the mouth).
        assert rows.min() > SIZE[1] * 0.4


def test_intermediates_hold_the_synced_and_enhanced_frames(
    store: ModelStore, media: tuple[Path, Path], tmp_path: Path
) -> None:
    video, speech = media
    folder = tmp_path / "stages"
    options = SyncOptions(engine="builtin", enhancer="realesrgan_fast")
    side = SideOutputs(keep_intermediates=folder, debug_mask=tmp_path / "mask.mp4")
    result = sync(video, speech, tmp_path / "out.mp4", options, store=store, side_outputs=side)
    assert len(list((folder / "frames").glob("*.png"))) == result.frames
    assert len(list((folder / "enhanced").glob("*.png"))) == result.frames
    assert (folder / "audio.wav").stat().st_size > 1000
    assert open_video(folder / "synced_lowq.mp4").frame_count == result.frames
    assert open_video(tmp_path / "mask.mp4").frame_count == result.frames


def test_side_outputs_that_cannot_be_written_are_refused_before_any_work(
    store: ModelStore, media: tuple[Path, Path], tmp_path: Path
) -> None:
    from lipsync.errors import OptionsError

    video, speech = media
    out = tmp_path / "out.mp4"
    a_file = tmp_path / "taken.txt"
    a_file.write_text("keep me")
    for side, needle in (
        (SideOutputs(debug_mask=tmp_path / "mask.txt"), "must end in one of"),
        (SideOutputs(debug_mask=out), "would overwrite"),
        (SideOutputs(debug_mask=tmp_path / "missing" / "m.mp4"), "does not exist"),
        (SideOutputs(keep_intermediates=a_file), "is a file"),
    ):
        with pytest.raises(OptionsError, match=needle):
            sync(video, speech, out, SyncOptions(engine="builtin"), store=store, side_outputs=side)
    assert not out.exists() and a_file.read_text() == "keep me"
