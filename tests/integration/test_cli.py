"""The `lipsync` command end to end: click's runner and a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
from click.testing import CliRunner

from lipsync.cli import cli


def run_cli(*args: str | Path, home: Path | None = None) -> tuple[int, str, str]:
    env = {"LIPSYNC_HOME": str(home)} if home else {}
    runner = CliRunner()
    result = runner.invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_sync_end_to_end(unittest_home, face_video, speech_wav, tmp_path):
    out = tmp_path / "out.mp4"
    code, stdout, _ = run_cli(
        "sync",
        face_video,
        speech_wav,
        "-o",
        out,
        "--engine",
        "wav2lip_unittest",
        "-q",
        home=unittest_home,
    )
    assert code == 0, stdout
    assert "wrote" in stdout and out.exists()
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"


def test_missing_weights_say_how_to_install(lipsync_home, face_video, speech_wav, tmp_path):
    code, _, stderr = run_cli(
        "sync",
        face_video,
        speech_wav,
        "-o",
        tmp_path / "o.mp4",
        "--engine",
        "wav2lip_gan",
        home=lipsync_home.home,
    )
    assert code == 3
    assert stderr.count("\n") == 1 and "lipsync models install wav2lip_gan" in stderr


def test_bad_inputs_give_one_line_errors(unittest_home, face_video, speech_wav, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("just some words\n")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    playlist = tmp_path / "clip.mp4"
    playlist.write_text(f"#EXTM3U\n#EXTINF:1,\nfile://{face_video}\n")
    cases = [
        (["sync", text, speech_wav], "notes.mp4"),
        (["sync", face_video, empty], "empty.wav"),
        (["sync", playlist, speech_wav], "clip.mp4"),
        (["sync", face_video, speech_wav, "--face", "left-ish"], "face must be"),
        (["sync", face_video, speech_wav, "--box", "1,2,3"], "box"),
        (["sync", face_video, speech_wav, "--fps", "500"], "fps"),
        (["sync", face_video, speech_wav, "--device", "cuda"], "CUDA"),
    ]
    for args, needle in cases:
        out = tmp_path / "o.mp4"
        code, _, stderr = run_cli(
            *args, "-o", out, "--engine", "wav2lip_unittest", "-q", home=unittest_home
        )
        assert code != 0, args
        assert stderr.startswith("lipsync: error: ") and stderr.count("\n") == 1, stderr
        assert needle in stderr, (args, stderr)
        assert "Traceback" not in stderr and not out.exists()


def test_probe_reports_streams_and_faces(face_video, rotated_clip):
    code, stdout, _ = run_cli("probe", face_video, "--json")
    assert code == 0
    report = json.loads(stdout)
    assert report["video"]["fps"] == 25
    assert report["audio"] is not None
    assert report["faces"]["frames_with_faces"] >= 1
    code, stdout, _ = run_cli("probe", rotated_clip, "--json", "--no-faces")
    assert code == 0 and json.loads(stdout)["video"]["rotation"] in (90, 270)


def test_python_dash_m_runs_without_traceback(tmp_path):
    bogus = tmp_path / "x.wav"
    bogus.write_bytes(b"RIFF0000garbage")
    proc = subprocess.run(
        [sys.executable, "-m", "lipsync", "probe", str(bogus)],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("lipsync: error:") and "Traceback" not in proc.stderr
