"""``lipsync eval``: the sync meter through the command line and the library."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lipsync.cli import cli
from lipsync.errors import Cancelled
from lipsync.eval.meter import measure_sync
from lipsync.media.audio import iter_audio
from lipsync.media.writer import VideoWriter
from lipsync.progress import CancelToken, ProgressEvent

REPORT_KEYS = {
    "video",
    "audio",
    "audio_from_video",
    "truth",
    "fps",
    "frames",
    "frames_with_face",
    "audio_duration_s",
    "sync",
    "silence",
    "against_truth",
    "seconds",
}
SYNC_KEYS = {
    "lag_frames",
    "lag_s",
    "correlation",
    "correlation_at_zero",
    "max_lag_frames",
    "frames_used",
    "correlations",
    "reason",
}
SILENCE_KEYS = {
    "ratio",
    "mean_opening_silent",
    "mean_opening_speech",
    "silent_frames",
    "speech_frames",
    "reason",
}
TRUTH_KEYS = {"frames_compared", "opening_correlation", "lmd_percent", "reason"}


def run_eval(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["eval", "-q", *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def faceless_video(tmp_path_factory: pytest.TempPathFactory, speech_wav: Path) -> Path:
    """2 s of a plain grey wall with the speech as its sound."""
    path = tmp_path_factory.mktemp("faceless") / "wall.mp4"
    with VideoWriter(path, 25, 128, 128, audio=iter_audio(speech_wav)) as writer:
        for _ in range(50):
            writer.write(np.full((128, 128, 3), 190, np.uint8))
    return path


def test_json_report_has_the_documented_keys(face_video):
    code, stdout, _ = run_eval(face_video, "--json")
    assert code == 0
    report = json.loads(stdout)
    assert set(report) == REPORT_KEYS
    assert set(report["sync"]) == SYNC_KEYS
    assert set(report["silence"]) == SILENCE_KEYS
    assert report["against_truth"] is None and report["truth"] is None
    assert report["audio_from_video"] is True and report["audio"] == str(face_video)
    assert report["fps"] == 25.0 and report["frames"] == 75
    assert report["frames_with_face"] == 75
    assert report["audio_duration_s"] == pytest.approx(3.0, abs=0.1)
    assert report["sync"]["max_lag_frames"] == 8
    assert len(report["sync"]["correlations"]) == 17


def test_a_video_against_itself_as_truth_has_zero_lmd(face_video, speech_wav):
    code, stdout, _ = run_eval(face_video, "--audio", speech_wav, "--truth", face_video, "--json")
    assert code == 0
    report = json.loads(stdout)
    assert report["audio_from_video"] is False and report["audio"] == str(speech_wav)
    truth = report["against_truth"]
    assert set(truth) == TRUTH_KEYS
    assert truth["frames_compared"] == 75
    assert truth["lmd_percent"] == pytest.approx(0.0, abs=1e-6)


def test_the_table_names_every_figure(face_video):
    code, stdout, _ = run_eval(face_video, "--truth", face_video, "--max-lag", "5")
    assert code == 0
    for words in ("audio-visual sync", "silence closure", "against truth", "LMD", "75 frames"):
        assert words in stdout


def test_a_video_without_audio_needs_audio(noface_gap_video):
    code, stdout, stderr = run_eval(noface_gap_video)
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1
    assert "noface_gap.mp4 has no audio stream" in stderr


def test_a_video_without_a_face_is_a_clear_error(faceless_video, speech_wav):
    code, _, stderr = run_eval(faceless_video, "--audio", speech_wav)
    assert code == 2
    assert stderr.count("\n") == 1 and "no face found" in stderr and "wall.mp4" in stderr


def test_bad_options_name_the_value(face_video):
    code, _, stderr = run_eval(face_video, "--face", "left-ish")
    assert code == 2 and "left-ish" in stderr
    code, _, stderr = run_eval(face_video, "--max-lag", "-3")
    assert code == 2 and "-3" in stderr


def test_the_library_reports_progress_and_can_be_cancelled(face_video):
    token = CancelToken()
    events: list[ProgressEvent] = []

    def on_progress(event: ProgressEvent) -> None:
        events.append(event)
        if event.done == 10:
            token.cancel("enough")

    with pytest.raises(Cancelled, match="enough"):
        measure_sync(face_video, progress=on_progress, cancel=token)
    assert events[0].stage == "faces" and events[0].total == 75
    assert events[-1].done == 10
