"""The sync meter: measure how well a video's mouth follows a speech track.

``measure_sync(video, audio, truth)`` tracks the face (FaceMesh landmarks per frame), turns
the speech into a per-frame loudness envelope and computes the figures of
``eval.figures``: audio-visual lag and correlation, silence closure and, given the
original clip of the same speech, lip-opening correlation and lip landmark distance (LMD).
The figures are cheap proxies meant to compare runs of Lipsync with one another; they are
not SyncNet's LSE-C/LSE-D (see docs/eval.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.loudness import frame_loudness, speech_activity
from ..errors import NoAudioStreamError, NoFaceError, NoVideoStreamError, OptionsError
from ..faces.mouth import lip_opening
from ..faces.tracker import FaceTracker
from ..media.audio import SPEECH_RATE, load_speech
from ..media.probe import MediaInfo, probe
from ..media.safety import open_sniffed
from ..media.video import open_video
from ..options import Limits, parse_face_choice
from ..progress import CancelToken, ProgressCallback, Reporter
from .figures import (
    AudioVisualSync,
    SilenceClosure,
    SyncFigures,
    TruthFigures,
    default_max_lag_frames,
    sync_figures,
    truth_figures,
)

__all__ = [
    "AudioVisualSync",
    "SilenceClosure",
    "SyncFigures",
    "SyncReport",
    "TruthFigures",
    "measure_sync",
    "sync_figures",
    "truth_figures",
]

_DECIMALS = 4


@dataclass(frozen=True)
class SyncReport:
    """Everything ``measure_sync`` found about one video.

    ``video``, ``audio``, ``truth``: the files used (``audio`` is the video itself when
    its own sound track was measured, ``audio_from_video`` then True; ``truth`` None
    without one). ``fps``: frames per second of the analysis; ``frames``: frames read;
    ``frames_with_face``: frames where the face was found. ``audio_duration_s``: seconds
    of speech. ``sync``, ``silence``: see ``eval.figures``; ``against_truth``: None
    without a truth video. ``seconds``: wall-clock time the measurement took.
    """

    video: str
    audio: str
    audio_from_video: bool
    truth: str | None
    fps: float
    frames: int
    frames_with_face: int
    audio_duration_s: float
    sync: AudioVisualSync
    silence: SilenceClosure
    against_truth: TruthFigures | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the same names (floats rounded to 4 decimals)."""
        return _rounded(asdict(self))


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, _DECIMALS)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    return value


def measure_sync(
    video: str | Path,
    audio: str | Path | None = None,
    truth: str | Path | None = None,
    *,
    face: str = "largest",
    max_lag_frames: int | None = None,
    limits: Limits | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    tracker: FaceTracker | None = None,
) -> SyncReport:
    """Measure the lip sync of ``video`` against ``audio`` (default: the video's own sound).

    ``truth``: optional original clip of the same person saying this speech; its frames
    are read at the video's frame rate and paired by index. ``face``: which face (largest,
    an index, or a point x,y). ``max_lag_frames``: lags searched either side (default:
    ±0.3 s). ``tracker``: a FaceTracker to reuse (default: a new one). Progress stages:
    "faces", then "truth faces".

    Raises OptionsError for a bad option, the MediaError family for unusable files
    (NoAudioStreamError when no audio is given and the video has none), NoFaceError when
    no frame of the video (or of the truth) shows a face, Cancelled through ``cancel``.
    """
    started = time.perf_counter()
    limits = limits or Limits()
    choice = parse_face_choice(face)
    if max_lag_frames is not None and not 0 <= max_lag_frames <= 1000:
        raise OptionsError(f"max_lag_frames must be between 0 and 1000, got {max_lag_frames}")
    video, truth = Path(video), Path(truth) if truth is not None else None
    audio_path = Path(audio) if audio is not None else video
    video_info = _checked_video(video, limits)
    if audio is None and video_info.audio is None:
        raise NoAudioStreamError(
            f"{video.name} has no audio stream: give the speech as a separate audio file"
        )
    if audio is not None and probe(audio_path, limits).audio is None:
        raise NoAudioStreamError(f"{audio_path.name} has no audio stream")
    if truth is not None:
        _checked_video(truth, limits)

    samples = load_speech(audio_path, limits)
    if audio is None:
        samples = _align_to_video(samples, _video_lead_s(video, video_info, limits))
    source = open_video(video, limits=limits)
    fps = source.fps
    tracker = tracker or FaceTracker(choice, smooth=False)
    landmarks = _track(
        video, source.frames(), source.frame_count, tracker, "faces", progress, cancel
    )
    n = len(landmarks)
    opening = lip_opening(landmarks)
    loudness = frame_loudness(samples, SPEECH_RATE, fps, n)
    figures: SyncFigures = sync_figures(
        opening,
        loudness,
        speech_activity(loudness, fps),
        fps,
        default_max_lag_frames(fps) if max_lag_frames is None else max_lag_frames,
    )

    against_truth = None
    if truth is not None:
        truth_source = open_video(truth, fps=fps, limits=limits)
        truth_landmarks = _track(
            truth,
            truth_source.frames(),
            truth_source.frame_count,
            tracker,
            "truth faces",
            progress,
            cancel,
        )
        against_truth = truth_figures(landmarks, truth_landmarks, fps)

    return SyncReport(
        video=str(video),
        audio=str(audio_path),
        audio_from_video=audio is None,
        truth=str(truth) if truth is not None else None,
        fps=fps,
        frames=n,
        frames_with_face=int(np.isfinite(opening).sum()),
        audio_duration_s=len(samples) / SPEECH_RATE,
        sync=figures.sync,
        silence=figures.silence,
        against_truth=against_truth,
        seconds=time.perf_counter() - started,
    )


def _checked_video(path: Path, limits: Limits) -> MediaInfo:
    info = probe(path, limits)
    if info.video is None:
        raise NoVideoStreamError(f"{path.name} has no video stream or image")
    return info


def _track(
    path: Path,
    frames: Iterable[np.ndarray],
    total: int,
    tracker: FaceTracker,
    stage: str,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> np.ndarray:
    """Landmarks float32 (N, 468, 3) frame pixels of every frame, NaN where no face."""
    reporter = Reporter(stage, total, progress, cancel)
    for frame in reporter.track(frames):
        tracker.observe(frame)
    reporter.finish()
    track = tracker.finish()
    if not track.present.any():
        raise NoFaceError(f"no face found in any of the {len(track)} frames of {path.name}")
    return track.landmarks


def _video_lead_s(path: Path, info: MediaInfo, limits: Limits) -> float:
    """Seconds by which the first picture starts after the first sound in ``path``.

    Frame i of the reader is shown at (video start + i / fps) on the file's clock, while
    the decoded speech starts at the audio stream's start; a phone or camera file may
    start them tens of milliseconds apart.
    """
    if info.video is None or info.audio is None:
        return 0.0
    container, _ = open_sniffed(path, limits)
    with container:
        stream = container.streams.audio[0]
        if stream.start_time is None or stream.time_base is None:
            return 0.0
        audio_start_s = float(stream.start_time * stream.time_base)
    return info.video.start_s - audio_start_s


def _align_to_video(samples: np.ndarray, video_lead_s: float) -> np.ndarray:
    """Shift the speech so that sample 0 plays with video frame 0."""
    shift = round(video_lead_s * SPEECH_RATE)
    if shift > 0:
        return samples[shift:]
    if shift < 0:
        return np.concatenate([np.zeros(-shift, dtype=samples.dtype), samples])
    return samples
