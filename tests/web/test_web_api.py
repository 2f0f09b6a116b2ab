"""The API through Flask's test client, with the worker run in-process (``web.drain()``)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import av
import pytest
from webtools import ENGINE, Web, make_web

from lipsync.jobs.fields import option_fields
from lipsync.options import Limits, SyncOptions
from lipsync.web import WebSettings


def submit(web: Web, video: Path, audio: Path | None = None, **fields: Any) -> Any:
    data: dict[str, Any] = {"engine": ENGINE, **{k: str(v) for k, v in fields.items()}}
    handles = [open(video, "rb")]  # noqa: SIM115 - closed below, after the request
    data["video"] = (handles[0], "my video.mp4")
    if audio is not None:
        handles.append(open(audio, "rb"))  # noqa: SIM115
        data["audio"] = (handles[1], "../../etc/speech.wav")
    try:
        return web.client.post("/api/jobs", data=data)
    finally:
        for handle in handles:
            handle.close()


def wait_for(web: Web, job_id: str, predicate: Any, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = web.client.get(f"/api/jobs/{job_id}").json
        assert job is not None
        if predicate(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached the expected state: {job}")


def check_playable(path: Path, expected_s: float, fps: float = 25.0) -> None:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert container.streams.audio, "the result has no sound"
        assert float(video.average_rate or 0) == pytest.approx(fps, abs=0.01)
        frames = sum(1 for _ in container.decode(video=0))
        duration = float(container.duration or 0) / av.time_base
    assert frames == round(expected_s * fps)
    assert duration == pytest.approx(expected_s, abs=0.1)


def test_submit_run_and_fetch_a_playable_result(
    web: Web, face_video: Path, speech_wav: Path, tmp_path: Path
) -> None:
    response = submit(web, face_video, speech_wav)
    assert response.status_code == 202, response.json
    created = response.json
    job_id = created["id"]
    assert created["status_url"] == f"/api/jobs/{job_id}" and created["job"]["status"] == "queued"
    stored = sorted(p.name for p in (web.settings.jobs.media_root / "jobs" / job_id).iterdir())
    assert stored == ["audio", "video"]  # the client's names are never used
    assert created["job"]["input"]["audio"]["format"] == "WAV"
    assert created["job"]["input"]["video"]["video"]["width"] == 256

    assert web.drain() == 1
    job = web.client.get(f"/api/jobs/{job_id}").json
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and job["attempts"] == 1 and job["error"] is None
    assert job["queue_wait_s"] >= 0 and job["result"]["frames"] == 71

    whole = web.client.get(job["result"]["url"])
    assert whole.status_code == 200 and whole.mimetype == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes"
    path = tmp_path / "result.mp4"
    path.write_bytes(whole.data)
    check_playable(path, expected_s=71 / 25)

    part = web.client.get(job["result"]["url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == whole.data[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(whole.data)}"
    download = web.client.get(job["result"]["download_url"])
    assert (
        download.headers["Content-Disposition"] == f"attachment; filename=lipsync-{job_id[:8]}.mp4"
    )


def test_events_stream_progress_until_the_job_ends(
    web: Web, face_video: Path, speech_wav: Path
) -> None:
    job_id = submit(web, face_video, speech_wav).json["id"]
    worker = threading.Thread(target=web.drain)
    response = web.client.get(f"/api/jobs/{job_id}/events", buffered=False)
    assert response.mimetype == "text/event-stream"
    worker.start()
    events = []
    for chunk in response.response:
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        for block in text.strip().split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
            if lines.get("event") == "job":
                events.append(json.loads(lines["data"]))
    worker.join()
    statuses = [event["status"] for event in events]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded" and "running" in statuses
    progress = [event["progress"] for event in events if event["status"] == "running"]
    assert progress == sorted(progress) and len(set(progress)) > 2
    stages = {event["stage"] for event in events}
    assert {"faces", "sync"} <= stages
    assert any(event["eta_s"] is not None for event in events)


def test_event_streams_are_limited_and_their_slots_come_back(
    web: Web, model_home: Path, face_video: Path
) -> None:
    limited = make_web(web.settings.replace(max_event_streams=1), model_home)
    job_id = submit(limited, face_video).json["id"]
    first = limited.client.get(f"/api/jobs/{job_id}/events", buffered=False)
    assert first.status_code == 200
    second = limited.client.get(f"/api/jobs/{job_id}/events", buffered=False)
    assert second.status_code == 503 and "poll GET" in second.json["error"]["message"]
    first.close()  # the client went away before the job finished
    third = limited.client.get(f"/api/jobs/{job_id}/events", buffered=False)
    assert third.status_code == 200
    third.close()


def test_the_videos_own_sound_and_a_still_photo(
    web: Web, face_video: Path, still_png: Path, speech_wav: Path
) -> None:
    own = submit(web, face_video)
    photo = submit(web, still_png, speech_wav, still_duration_s="1.0", fps="20")
    assert own.status_code == 202 and photo.status_code == 202, (own.json, photo.json)
    assert own.json["job"]["input"]["audio_source"] == "video"
    assert web.drain() == 2
    first = web.client.get(own.json["status_url"]).json
    second = web.client.get(photo.json["status_url"]).json
    assert first["status"] == second["status"] == "succeeded", (first, second)
    assert second["result"]["fps"] == 20 and second["result"]["frames"] == 20
    assert second["options"]["still_duration_s"] == 1.0


def bad_inputs(tmp: Path, face_video: Path, speech_wav: Path, still_png: Path) -> list[Any]:
    def write(name: str, data: bytes) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path

    silent = tmp / "silent.mp4"
    from lipsync import samples

    samples.face_video(silent, seconds=0.5)
    huge_png = bytearray(still_png.read_bytes()[:64])
    huge_png[16:24] = (100_000).to_bytes(4, "big") + (100_000).to_bytes(4, "big")
    # Written without faststart: the index (moov) is at the end, so a cut file has none.
    moov_last = samples.rotated_clip(tmp / "moov_last.mp4", seconds=1.0).read_bytes()
    truncated = moov_last[: len(moov_last) // 2]
    return [
        # (video, audio, status, words in the message)
        (write("empty.mp4", b""), speech_wav, 422, "video is empty"),
        (write("notes.mp4", b"just some words\n" * 20), speech_wav, 415, "text file"),
        (
            write("list.mp4", f"#EXTM3U\n#EXTINF:1,\nfile://{face_video}\n".encode()),
            None,
            415,
            "HLS playlist",
        ),
        (
            write("concat.mp4", f"ffconcat version 1.0\nfile '{face_video}'\n".encode()),
            None,
            415,
            "concat list",
        ),
        (write("anim.gif", b"GIF89a" + b"\x00" * 200), speech_wav, 415, "GIF"),
        (write("page.mp4", b"<!doctype html><html></html>"), speech_wav, 415, "HTML"),
        (write("cut.mp4", truncated), speech_wav, 422, "video"),
        (
            write("junk.mp4", b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 8),
            speech_wav,
            422,
            "video",
        ),
        (speech_wav, None, 422, "no video stream"),
        (silent, None, 422, "no audio was uploaded"),
        (face_video, still_png, 422, "audio upload has no audio stream"),
        (write("huge.png", bytes(huge_png)), speech_wav, 413, "limit"),
        (face_video, write("empty.wav", b""), 422, "audio is empty"),
    ]


def test_each_bad_input_gets_its_4xx_and_message(
    web: Web, face_video: Path, speech_wav: Path, still_png: Path, tmp_path: Path
) -> None:
    for video, audio, status, needle in bad_inputs(tmp_path, face_video, speech_wav, still_png):
        response = submit(web, video, audio)
        assert response.status_code == status, (video.name, response.json)
        error = response.json["error"]
        assert needle in error["message"], (video.name, error)
        assert error["status"] == status and "Traceback" not in error["message"]
    assert web.store.count() == 0  # nothing refused became a job …
    assert list((web.settings.jobs.media_root / "jobs").iterdir()) == []  # … or left files


def test_damage_found_only_while_decoding_fails_the_job_with_its_reason(
    web: Web, face_video: Path, speech_wav: Path, tmp_path: Path
) -> None:
    # A faststart MP4 cut in half probes fine (its index is complete); the damage shows when
    # the worker decodes the frames that are missing.
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(face_video.read_bytes()[: face_video.stat().st_size // 2])
    response = submit(web, cut, speech_wav)
    assert response.status_code == 202
    web.drain()
    job = web.client.get(response.json["status_url"]).json
    assert job["status"] == "failed" and job["attempts"] == 1
    assert job["error"]["code"] == "corrupt_media" and "video" in job["error"]["message"]


@pytest.mark.parametrize(
    ("fields", "status", "needle"),
    [
        ({"loop": "sideways"}, 400, "loop must be one of"),
        ({"fps": "500"}, 400, "fps must be between 1 and 120"),
        ({"face": "left-ish"}, 400, "face must be"),
        ({"pads": "1,2"}, 400, "pads needs 4"),
        ({"colour": "red"}, 400, "unknown option 'colour'"),
        ({"engine": "nope"}, 400, "unknown engine 'nope'"),
        ({"engine": "wav2lip_gan"}, 409, "lipsync models install wav2lip_gan"),
        ({"enhancer": "sharpest"}, 400, "unknown enhancer 'sharpest'"),
        ({"enhancer": "codeformer"}, 409, "enhancer codeformer needs its weights"),
        ({"temporal_smoothing": "2"}, 400, "temporal_smoothing must be between 0 and 1"),
    ],
)
def test_bad_options_are_refused_before_queueing(
    web: Web, face_video: Path, speech_wav: Path, fields: dict[str, str], status: int, needle: str
) -> None:
    response = submit(web, face_video, speech_wav, **fields)
    assert response.status_code == status and needle in response.json["error"]["message"]
    assert web.store.count() == 0


def test_a_server_without_the_models_still_checks_engine_names(
    web: Web, jobs_config: Any, model_home: Path, tmp_path: Path, face_video: Path
) -> None:
    api_only = jobs_config.replace(check_models_on_submit=False)
    server = make_web(WebSettings(jobs=api_only, frontend_dir=tmp_path), model_home)
    assert submit(server, face_video, engine="wav2lip_gan").status_code == 202
    unknown = submit(server, face_video, engine="nope")
    assert unknown.status_code == 400 and "unknown engine" in unknown.json["error"]["message"]


def test_form_mistakes(web: Web, face_video: Path) -> None:
    no_video = web.client.post("/api/jobs", data={"engine": ENGINE})
    assert no_video.status_code == 400 and "no 'video' file" in no_video.json["error"]["message"]
    with open(face_video, "rb") as a, open(face_video, "rb") as b:
        twice = web.client.post("/api/jobs", data={"video": [(a, "a.mp4"), (b, "b.mp4")]})
    assert twice.status_code == 400 and "one 'video' file" in twice.json["error"]["message"]
    with open(face_video, "rb") as handle:
        extra = web.client.post("/api/jobs", data={"video": (handle, "v"), "poster": (handle, "p")})
    assert (
        extra.status_code == 400
        and "unexpected file field 'poster'" in extra.json["error"]["message"]
    )


def test_oversize_upload_is_413(
    jobs_config: Any, model_home: Path, tmp_path: Path, face_video: Path
) -> None:
    small = jobs_config.replace(limits=Limits(max_file_bytes=20_000))
    web = make_web(WebSettings(jobs=small, frontend_dir=tmp_path / "none"), model_home)
    over_file_limit = tmp_path / "big.mp4"
    over_file_limit.write_bytes(face_video.read_bytes() * 2)
    response = submit(web, over_file_limit)
    assert response.status_code == 413
    assert "more than the limit of 20000" in response.json["error"]["message"]
    # Beyond the whole body's limit (two files and the form), refused from Content-Length.
    over_body_limit = tmp_path / "bigger.mp4"
    over_body_limit.write_bytes(b"\0" * (web.settings.max_upload_bytes + 1))
    response = submit(web, over_body_limit)
    assert response.status_code == 413
    assert "larger than this server's limit" in response.json["error"]["message"]
    assert web.store.count() == 0 and not list((small.media_root / "jobs").iterdir())


def test_full_queue_and_low_disk_are_503(
    web: Web, jobs_config: Any, model_home: Path, tmp_path: Path, face_video: Path
) -> None:
    full = make_web(
        WebSettings(jobs=jobs_config.replace(max_queued=1), frontend_dir=tmp_path), model_home
    )
    assert submit(full, face_video).status_code == 202
    refused = submit(full, face_video)
    assert refused.status_code == 503 and "queue is full" in refused.json["error"]["message"]
    low = make_web(
        WebSettings(jobs=jobs_config.replace(min_free_bytes=2**62), frontend_dir=tmp_path),
        model_home,
    )
    refused = submit(low, face_video)
    assert refused.status_code == 503 and "low on disk space" in refused.json["error"]["message"]


def test_cancel_a_queued_job_then_delete_it(web: Web, face_video: Path) -> None:
    job_id = submit(web, face_video).json["id"]
    cancelled = web.client.delete(f"/api/jobs/{job_id}")
    assert cancelled.status_code == 202 and cancelled.json["status"] == "cancelled"
    assert not (web.settings.jobs.media_root / "jobs" / job_id).exists()
    web.drain()  # the queue message is still delivered, and ignored
    assert web.client.get(f"/api/jobs/{job_id}").json["status"] == "cancelled"
    assert web.client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert web.client.get(f"/api/jobs/{job_id}").status_code == 404


def test_cancel_a_running_job_stops_it_within_seconds(
    web: Web, still_png: Path, speech_wav: Path
) -> None:
    job_id = submit(web, still_png, speech_wav, still_duration_s="60").json["id"]
    worker = threading.Thread(target=web.drain)
    worker.start()
    wait_for(web, job_id, lambda job: job["stage"] == "sync" and job["stage_progress"]["done"] > 0)
    asked = time.monotonic()
    response = web.client.delete(f"/api/jobs/{job_id}")
    assert response.status_code == 202 and response.json["cancel_requested"]
    job = wait_for(web, job_id, lambda job: job["status"] == "cancelled", timeout_s=10)
    assert time.monotonic() - asked < 5
    assert job["error"]["code"] == "cancelled"
    worker.join()
    assert not (web.settings.jobs.media_root / "jobs" / job_id).exists()


def test_a_worker_shutting_down_hands_its_job_back(
    web: Web, still_png: Path, speech_wav: Path
) -> None:
    job_id = submit(web, still_png, speech_wav, still_duration_s="60").json["id"]
    worker = threading.Thread(target=web.queue.drain, kwargs={"limit": 1})
    worker.start()
    wait_for(web, job_id, lambda job: job["stage"] == "sync")
    web.runner.shutdown.set()  # what SIGTERM does to a worker process
    worker.join(timeout=10)
    job = web.client.get(f"/api/jobs/{job_id}").json
    assert job["status"] == "queued" and job["attempts"] == 0, job
    assert job["retry_reason"] == "the worker is shutting down"
    assert web.queue.pending() == 1  # re-sent, for the next worker
    assert not [
        p
        for p in (web.settings.jobs.media_root / "jobs" / job_id).iterdir()
        if p.name.startswith(".")
    ]


def test_a_crashing_run_is_retried_then_failed(
    web: Web, face_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("simulated")

    monkeypatch.setattr("lipsync.pipeline.sync", explode)
    job_id = submit(web, face_video).json["id"]
    assert web.drain() == 3  # the first delivery and two retries
    job = web.client.get(f"/api/jobs/{job_id}").json
    assert job["status"] == "failed" and job["attempts"] == 3
    assert "MemoryError" in job["error"]["message"] and "gave up after 3" in job["error"]["message"]


def test_not_found_and_not_ready(web: Web, face_video: Path) -> None:
    assert web.client.get("/api/jobs/" + "0" * 32).status_code == 404
    assert web.client.get("/api/jobs/../../etc/passwd").status_code == 404
    missing = web.client.get("/api/jobs/nonsense/result")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "job_not_found"
    job_id = submit(web, face_video).json["id"]
    early = web.client.get(f"/api/jobs/{job_id}/result")
    assert early.status_code == 409 and "it is queued" in early.json["error"]["message"]
    assert web.client.get("/api/nothing").status_code == 404
    assert web.client.put("/api/jobs").status_code == 405


def test_list_engines_options_health_and_docs(web: Web, face_video: Path) -> None:
    ids = [submit(web, face_video).json["id"] for _ in range(3)]
    listed = web.client.get("/api/jobs?limit=2").json["jobs"]
    assert [job["id"] for job in listed] == ids[::-1][:2]
    assert web.client.get("/api/jobs?limit=0").status_code == 400
    assert web.client.get("/api/jobs?status=queued").json["jobs"][0]["status"] == "queued"

    engines = web.client.get("/api/engines").json
    by_name = {engine["name"]: engine for engine in engines["engines"]}
    assert by_name[ENGINE]["installed"] and not by_name["wav2lip_gan"]["installed"]
    assert any(m["name"] == ENGINE for m in engines["models"])
    enhancers = {enhancer["name"]: enhancer for enhancer in engines["enhancers"]}
    # Real-ESRGAN's weights ship in a package; GFPGAN's are user-supplied.
    assert enhancers["none"]["installed"] and enhancers["realesrgan"]["installed"]
    assert enhancers["gfpgan"]["installed"] is False
    assert "non-commercial" in enhancers["codeformer"]["license"]

    described = web.client.get("/api/options").json
    assert [f["name"] for f in described["fields"]] == [f.name for f in option_fields(SyncOptions)]
    assert described["limits"]["max_file_bytes"] > 0

    health = web.client.get("/api/health").json
    assert health["status"] == "ok" and health["queue"]["backend"] == "sqlite"
    assert health["jobs"]["queued"] == 3

    spec = web.client.get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/result"} <= set(spec["paths"])
    submission = spec["components"]["schemas"]["JobSubmission"]["properties"]
    assert {"video", "audio", *SyncOptions.__dataclass_fields__} == set(submission)
    page = web.client.get("/api/docs")
    assert page.mimetype == "text/html" and b"/api/jobs/{job_id}/events" in page.data
    assert b"<script" not in page.data


def test_the_page_is_served_when_built(web: Web, tmp_path: Path, model_home: Path) -> None:
    note = web.client.get("/")
    assert note.status_code == 200 and b"/api/docs" in note.data
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>the page</html>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    built = make_web(web.settings.replace(frontend_dir=dist), model_home)
    assert built.client.get("/").data == b"<html>the page</html>"
    assert built.client.get("/assets/app.js").data == b"console.log(1)"
    assert built.client.get("/history").data == b"<html>the page</html>"  # client-side route
    assert (
        built.client.get("/../secret").status_code == 404
        or b"page" in built.client.get("/../secret").data
    )


def test_token_hosts_and_origins(web: Web, model_home: Path, face_video: Path) -> None:
    secured = make_web(web.settings.replace(api_token="s3cret"), model_home)
    client = secured.client
    refused = client.get("/api/jobs")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/jobs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/api/jobs?access_token=s3cret").status_code == 200
    assert client.get("/api/health").status_code == 200

    rebinding = web.client.get("/api/health", headers={"Host": "attacker.example"})
    assert rebinding.status_code == 400
    with open(face_video, "rb") as handle:
        cross = web.client.post(
            "/api/jobs",
            data={"video": (handle, "v.mp4")},
            headers={"Origin": "https://evil.example"},
        )
    assert cross.status_code == 403 and "cross-site" in cross.json["error"]["message"]
    same = web.client.delete("/api/jobs/" + "0" * 32, headers={"Origin": "http://localhost"})
    assert same.status_code == 404
    sandboxed = web.client.delete("/api/jobs/" + "0" * 32, headers={"Origin": "null"})
    assert sandboxed.status_code == 403
    dev_server = "http://localhost:5173"
    proxied = make_web(web.settings.replace(allowed_origins=(dev_server,)), model_home)
    allowed = proxied.client.delete("/api/jobs/" + "0" * 32, headers={"Origin": dev_server})
    assert allowed.status_code == 404
