"""The enhancement stage with test-double enhancers on the astronaut portrait and its real
FaceMesh landmarks: what is replaced, what is left exactly alone, and the temporal history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from lipsync.compose.regions import region_box
from lipsync.enhance.base import Enhancer
from lipsync.enhance.intermediates import Intermediates, frame_name
from lipsync.enhance.stage import EnhanceItem, EnhanceStage, build_stage
from lipsync.errors import ModelNotInstalledError, OptionsError
from lipsync.faces import mouth as facemesh
from lipsync.media.audio import ArrayAudio
from lipsync.media.carry import can_copy_audio
from lipsync.models.store import ModelStore
from lipsync.options import SyncOptions

SIZE = (256, 256)


class SharpenTestEnhancer(Enhancer):
    """A stand-in enhancer: a strong unsharp mask plus, per call, a little seeded noise
    (so consecutive frames flicker like a GAN's). Records the crops it was given."""

    name = "sharpen_test"

    def __init__(self, noise: float = 0.0, needs_face: bool = False) -> None:
        self.noise = noise
        self.needs_face = needs_face
        self.calls = 0
        self.seen: list[tuple[tuple[int, ...], np.ndarray | None]] = []
        self.closed = False

    def enhance(
        self, crops: Sequence[np.ndarray], landmarks: Sequence[np.ndarray | None]
    ) -> list[np.ndarray]:
        out = []
        for crop, points in zip(crops, landmarks, strict=True):
            self.seen.append((crop.shape, points))
            rng = np.random.default_rng(self.calls)
            self.calls += 1
            soft = cv2.GaussianBlur(crop.astype(np.float32), (0, 0), 2.0)
            sharp = crop + 3.0 * (crop - soft) + rng.normal(0, self.noise, crop.shape)
            out.append(np.clip(sharp + 0.5, 0, 255).astype(np.uint8))
        return out

    def close(self) -> None:
        self.closed = True


class BrokenTestEnhancer(SharpenTestEnhancer):
    def enhance(
        self, crops: Sequence[np.ndarray], landmarks: Sequence[np.ndarray | None]
    ) -> list[np.ndarray]:
        return [crop[1:] for crop in crops]


class OnesTestParser:
    """A face parser stand-in: every pixel is "skin", and the keep mask is all ones."""

    def __init__(self) -> None:
        self.kinds: list[str] = []

    def parse(self, crops: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.ones(crop.shape[:2], np.uint8) for crop in crops]

    def keep_mask(self, labels: np.ndarray, kind: str = "mouth") -> np.ndarray:
        self.kinds.append(kind)
        return np.ones(labels.shape, np.float32)


@pytest.fixture(scope="module")
def face(portrait_face: Callable) -> tuple[np.ndarray, np.ndarray]:
    return portrait_face(SIZE)


def _outside_box(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = box
    keep = np.ones(frame.shape[:2], bool)
    keep[y1:y2, x1:x2] = False
    return frame[keep]


@pytest.mark.parametrize("blend", ["feather", "poisson"])
@pytest.mark.parametrize("region", ["mouth", "face"])
def test_pixels_outside_the_mask_stay_exactly_and_inside_change(face, region, blend):
    frame, landmarks = face
    stage = EnhanceStage(SharpenTestEnhancer(), region=region, blend=blend)
    (result,) = stage.process([EnhanceItem(frame, landmarks)])
    assert result.box == region_box(landmarks, region, SIZE)
    assert result.mask is not None and result.mask.shape == (
        result.box[3] - result.box[1],
        result.box[2] - result.box[0],
    )
    assert np.array_equal(_outside_box(result.frame, result.box), _outside_box(frame, result.box))
    x1, y1, x2, y2 = result.box
    before, after = frame[y1:y2, x1:x2], result.frame[y1:y2, x1:x2]
    untouched = result.mask == 0
    assert untouched.any() and np.array_equal(after[untouched], before[untouched])
    inside = result.mask > 0.99
    assert inside.sum() > 200
    change = np.abs(after[inside].astype(int) - before[inside].astype(int)).mean()
    assert change > 3.0, change
    assert not np.shares_memory(result.frame, frame)


def test_the_mouth_mask_never_reaches_the_eyes(face):
    frame, landmarks = face
    (result,) = EnhanceStage(SharpenTestEnhancer(), region="face").process(
        [EnhanceItem(frame, landmarks)]
    )
    (mouth,) = EnhanceStage(SharpenTestEnhancer(), region="mouth").process(
        [EnhanceItem(frame, landmarks)]
    )
    eye = landmarks[facemesh.EYE_OUTER_LEFT].astype(int)
    assert np.array_equal(mouth.frame[eye[1], eye[0]], frame[eye[1], eye[0]])
    assert result.box is not None and mouth.box is not None
    assert (result.box[2] - result.box[0]) > (mouth.box[2] - mouth.box[0])


def test_frames_without_landmarks_pass_through_unchanged(face):
    frame, landmarks = face
    enhancer = SharpenTestEnhancer()
    stage = EnhanceStage(enhancer, region="face")
    broken = np.full_like(landmarks, np.nan)
    results = stage.process(
        [EnhanceItem(frame, None), EnhanceItem(frame, broken), EnhanceItem(frame, landmarks)]
    )
    for result in results[:2]:
        assert result.frame is frame and result.box is None and result.mask is None
    assert results[2].box is not None
    assert len(enhancer.seen) == 1


def test_auto_enhances_what_was_regenerated(face):
    frame, landmarks = face
    stage = EnhanceStage(SharpenTestEnhancer(), region="auto")
    nothing, mouth, whole_face = stage.process(
        [
            EnhanceItem(frame, landmarks, regenerated=None),
            EnhanceItem(frame, landmarks, regenerated="mouth"),
            EnhanceItem(frame, landmarks, regenerated="face"),
        ]
    )
    assert nothing.frame is frame and nothing.box is None
    assert mouth.box == region_box(landmarks, "mouth", SIZE)
    assert whole_face.box == region_box(landmarks, "face", SIZE)


def test_face_restorers_see_the_whole_face_even_for_the_mouth(face):
    frame, landmarks = face
    enhancer = SharpenTestEnhancer(needs_face=True)
    (result,) = EnhanceStage(enhancer, region="mouth").process([EnhanceItem(frame, landmarks)])
    face_box = region_box(landmarks, "face", SIZE)
    assert result.box == face_box
    ((shape, crop_points),) = enhancer.seen
    assert shape == (face_box[3] - face_box[1], face_box[2] - face_box[0], 3)
    # Landmarks arrive in the crop's pixels.
    assert crop_points is not None
    assert np.allclose(crop_points[:, :2], landmarks[:, :2] - np.array(face_box[:2]), atol=1e-3)
    # ... but only the mouth is pasted: the eyes keep their pixels.
    eye = landmarks[facemesh.EYE_OUTER_RIGHT].astype(int)
    assert np.array_equal(result.frame[eye[1], eye[0]], frame[eye[1], eye[0]])


def test_the_frame_region_needs_no_face(face):
    frame, _ = face
    (result,) = EnhanceStage(SharpenTestEnhancer(), region="frame").process(
        [EnhanceItem(frame, None)]
    )
    assert result.box == (0, 0, SIZE[0], SIZE[1])
    assert result.mask is not None and (result.mask == 1).all()
    assert np.abs(result.frame.astype(int) - frame.astype(int)).mean() > 3.0
    face_only = EnhanceStage(SharpenTestEnhancer(needs_face=True), region="frame")
    (unchanged,) = face_only.process([EnhanceItem(frame, None)])
    assert unchanged.frame is frame


def test_box_blend_replaces_the_whole_region(face):
    frame, landmarks = face
    (result,) = EnhanceStage(SharpenTestEnhancer(), region="mouth", blend="box").process(
        [EnhanceItem(frame, landmarks)]
    )
    assert result.mask is not None and (result.mask == 1).all()
    x1, y1, x2, _ = result.box
    # Even the box's edge row is replaced (a feathered mask is 0 there).
    assert not np.array_equal(result.frame[y1, x1:x2], frame[y1, x1:x2])


def _flicker_run(face, strength: float, continuous: tuple[bool, ...]) -> list[np.ndarray]:
    frame, landmarks = face
    stage = EnhanceStage(SharpenTestEnhancer(noise=6.0), region="face", temporal_smoothing=strength)
    items = [EnhanceItem(frame, landmarks, continuous=c) for c in continuous]
    return [r.frame for r in stage.process(items[:1]) + stage.process(items[1:])]


def test_temporal_smoothing_steadies_flicker_and_resets_on_a_cut(face):
    raw = _flicker_run(face, 0.0, (True, True, True))
    steady = _flicker_run(face, 0.9, (True, True, True))
    assert np.array_equal(raw[0], steady[0])  # nothing to average with yet

    def flicker(frames: list[np.ndarray]) -> float:
        return float(np.abs(frames[2].astype(int) - frames[1].astype(int)).mean())

    assert flicker(steady) < 0.7 * flicker(raw)
    cut = _flicker_run(face, 0.9, (True, True, False))
    assert np.array_equal(cut[2], raw[2])  # the history was dropped at the cut
    assert not np.array_equal(cut[1], raw[1])


def test_a_lost_face_restarts_the_history(face):
    frame, landmarks = face
    stage = EnhanceStage(SharpenTestEnhancer(noise=6.0), region="face", temporal_smoothing=0.9)
    stage.process([EnhanceItem(frame, landmarks), EnhanceItem(frame, landmarks)])
    assert stage.smoother.last is not None and not stage.smoother.last.restarted
    stage.process([EnhanceItem(frame, None), EnhanceItem(frame, landmarks)])
    assert stage.smoother.last.restarted


def test_a_parsing_mask_is_used_for_faces_and_faded_at_the_border(face):
    frame, landmarks = face
    parser = OnesTestParser()
    stage = EnhanceStage(SharpenTestEnhancer(), region="mouth", mask="parsing", parser=parser)
    (result,) = stage.process([EnhanceItem(frame, landmarks)])
    assert parser.kinds == ["mouth"]
    assert result.box == region_box(landmarks, "face", SIZE)  # cut as a face for the parser
    mask = result.mask
    assert mask is not None
    assert mask[0].max() == 0 and mask[:, -1].max() == 0
    assert mask[mask.shape[0] // 2, mask.shape[1] // 2] == pytest.approx(1.0)
    # Under "auto", a mouth crop for a super-resolution network is not parsed.
    auto = EnhanceStage(SharpenTestEnhancer(), region="mouth", mask="auto", parser=parser)
    auto.process([EnhanceItem(frame, landmarks)])
    assert parser.kinds == ["mouth"]


def test_bad_settings_and_broken_enhancers_are_refused(face):
    frame, landmarks = face
    with pytest.raises(OptionsError, match="parser"):
        EnhanceStage(SharpenTestEnhancer(), mask="parsing")
    with pytest.raises(OptionsError, match="region"):
        EnhanceStage(SharpenTestEnhancer(), region="chin")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="returned"):
        EnhanceStage(BrokenTestEnhancer(), region="face").process([EnhanceItem(frame, landmarks)])


def test_build_stage_checks_models_first(tmp_path: Path):
    store = ModelStore(tmp_path / "home")
    assert build_stage(SyncOptions(enhancer="none"), store) is None
    with pytest.raises(OptionsError, match="unknown enhancer"):
        build_stage(SyncOptions(enhancer="sharpest"), store)
    with pytest.raises(ModelNotInstalledError, match="gfpgan"):
        build_stage(SyncOptions(enhancer="gfpgan"), store)
    with pytest.raises(ModelNotInstalledError, match="face_parsing"):
        build_stage(SyncOptions(enhancer="realesrgan_fast", enhance_mask="parsing"), store)
    stage = build_stage(SyncOptions(enhancer="realesrgan_fast"), store)
    assert stage is not None and stage.parser is None  # auto: parsing is not installed
    stage.close()


def test_intermediates_refuse_to_overwrite(tmp_path: Path):
    folder = tmp_path / "keep"
    sound = ArrayAudio(np.full(100, 0.5, np.float32), 8000)
    with Intermediates(folder, fps=50, audio=sound) as keep:
        keep.write_synced(0, np.zeros((16, 16, 3), np.uint8))
        keep.write_synced(1, np.zeros((16, 16, 3), np.uint8))
        keep.write_enhanced(0, np.zeros((16, 16, 3), np.uint8))
    wav = folder / "audio.wav"
    assert (folder / "frames" / frame_name(0)).is_file()
    assert (folder / "synced_lowq.mp4").is_file()
    with av.open(str(wav)) as container:  # 16-bit PCM padded to 2 frames at 50 fps
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "pcm_s16le"
        pcm = np.concatenate([f.to_ndarray() for f in container.decode(stream)], axis=1)
    assert pcm.shape == (1, 320)
    assert (pcm[0, :100] == 16384).all() and (pcm[0, 100:] == 0).all()
    with pytest.raises(OptionsError, match="already holds"):
        Intermediates(folder, fps=25)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OptionsError, match="is a file"):
        Intermediates(tmp_path / "file", fps=25)


def test_audio_is_copied_only_within_a_container_family():
    assert can_copy_audio("mov", "aac", ".mp4") and can_copy_audio("mov", "aac", ".mov")
    assert can_copy_audio("mov", "opus", ".mp4") and not can_copy_audio("mov", "opus", ".mov")
    assert can_copy_audio("matroska", "vorbis", ".mkv")
    assert not can_copy_audio("mov", "aac", ".mkv")  # AAC priming has no place in Matroska
    assert not can_copy_audio("matroska", "opus", ".mp4")
    assert not can_copy_audio("avi", "mp3", ".mp4")


def test_the_real_face_parser_fits_the_stage(face, tmp_path: Path):
    from lipsync.enhance.parsing import FaceParser, write_random_parsing_checkpoint

    frame, landmarks = face
    parser = FaceParser(write_random_parsing_checkpoint(tmp_path / "parsing.pth"), device="cpu")
    stage = EnhanceStage(SharpenTestEnhancer(), region="face", mask="parsing", parser=parser)
    (result,) = stage.process([EnhanceItem(frame, landmarks)])
    assert result.mask is not None and result.box == region_box(landmarks, "face", SIZE)
    assert result.mask.dtype == np.float32 and 0.0 <= result.mask.min() <= result.mask.max() <= 1
    untouched = result.mask == 0
    x1, y1, x2, y2 = result.box
    assert np.array_equal(result.frame[y1:y2, x1:x2][untouched], frame[y1:y2, x1:x2][untouched])
    stage.close()
