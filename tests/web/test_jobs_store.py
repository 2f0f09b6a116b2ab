"""The job store, the sweeper, the queue's message format and the option fields, without media."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from lipsync.errors import OptionsError
from lipsync.jobs.config import JobsConfig
from lipsync.jobs.fields import (
    form_schema,
    json_schema,
    option_fields,
    options_from_form,
    options_from_json,
    options_to_json,
)
from lipsync.jobs.files import MediaRoot
from lipsync.jobs.queue import JobQueue, JsonMessageSerializer
from lipsync.jobs.store import JobStore, is_job_id, new_job_id
from lipsync.jobs.sweeper import Sweeper
from lipsync.jobs.worker import overall_progress
from lipsync.options import SyncOptions


def add_job(store: JobStore, media: MediaRoot, max_attempts: int = 2) -> str:
    job_id = new_job_id()
    directory = media.create_job_dir(job_id)
    (directory / "video").write_bytes(b"v")
    store.create(
        job_id,
        options={"engine": "x"},
        input_meta={"video": None},
        video_path=f"jobs/{job_id}/video",
        audio_path=f"jobs/{job_id}/video",
        max_attempts=max_attempts,
    )
    return job_id


@pytest.fixture
def store(jobs_config: JobsConfig) -> JobStore:
    return JobStore(jobs_config.database_url)


@pytest.fixture
def media(jobs_config: JobsConfig) -> MediaRoot:
    return MediaRoot(jobs_config.media_root)


def test_job_ids_are_128_random_bits() -> None:
    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(is_job_id(i) and len(i) == 32 for i in ids)
    assert not is_job_id("../etc/passwd") and not is_job_id("A" * 32)


def test_claim_is_exclusive_across_threads(store: JobStore, media: MediaRoot) -> None:
    job_id = add_job(store, media)
    winners: list[str] = []

    def try_claim(worker: str) -> None:
        if store.claim(job_id, worker) is not None:
            winners.append(worker)

    threads = [threading.Thread(target=try_claim, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    job = store.get(job_id)
    assert job is not None and job.status == "running" and job.attempts == 1
    assert job.worker_id == winners[0]


def test_a_replaced_worker_can_no_longer_write(store: JobStore, media: MediaRoot) -> None:
    job_id = add_job(store, media)
    first = store.claim(job_id, "w1")
    assert first is not None and first.claim is not None
    assert store.requeue(job_id, first.claim, "w1 stopped responding")
    second = store.claim(job_id, "w2")
    assert second is not None and second.claim is not None and second.attempts == 2
    assert store.beat(job_id, first.claim).owned is False
    assert not store.succeed(job_id, first.claim, "x", {})
    assert store.beat(job_id, second.claim, ("sync", 5, 10, "frames", 0.6)).owned
    job = store.get(job_id)
    assert job is not None and (job.stage, job.stage_done, job.progress) == ("sync", 5, 0.6)
    assert job.last_retry_reason == "w1 stopped responding"


def test_cancel_queued_at_once_and_running_through_the_flag(
    store: JobStore, media: MediaRoot
) -> None:
    queued = add_job(store, media)
    cancelled = store.request_cancel(queued)
    assert cancelled is not None and cancelled.status == "cancelled" and cancelled.finished_at
    assert store.claim(queued, "w") is None

    running = add_job(store, media)
    claimed = store.claim(running, "w")
    assert claimed is not None and claimed.claim is not None
    flagged = store.request_cancel(running)
    assert flagged is not None and flagged.status == "running" and flagged.cancel_requested
    assert store.beat(running, claimed.claim).cancel_requested


def test_history_survives_a_new_store_on_the_same_database(
    jobs_config: JobsConfig, media: MediaRoot
) -> None:
    first = JobStore(jobs_config.database_url)
    job_id = add_job(first, media)
    first.close()
    again = JobStore(jobs_config.database_url)
    assert [job.id for job in again.recent()] == [job_id]


def test_sweeper_retries_then_fails_a_job_whose_worker_vanishes(
    jobs_config: JobsConfig, store: JobStore, media: MediaRoot
) -> None:
    queue = JobQueue(jobs_config)
    job_id = add_job(store, media, max_attempts=2)
    now = [time.time()]
    sweeper = Sweeper(jobs_config, store, queue, clock=lambda: now[0])

    claimed = store.claim(job_id, "doomed-1")
    assert claimed is not None and claimed.claim is not None
    (media.job_dir(job_id) / f".result-{claimed.claim}.mp4").write_bytes(b"partial")
    (media.job_dir(job_id) / f"..result-{claimed.claim}.1234.part.mp4").write_bytes(b"partial")
    assert sweeper.sweep().retried == 0  # heartbeat fresh
    now[0] += jobs_config.stale_after_s + 1
    assert sweeper.sweep().retried == 1
    job = store.get(job_id)
    assert job is not None and job.status == "queued" and job.attempts == 1
    assert "doomed-1 stopped responding" in (job.last_retry_reason or "")
    assert [p.name for p in media.job_dir(job_id).iterdir()] == ["video"]  # partials removed
    assert queue.pending() == 1

    assert store.claim(job_id, "doomed-2") is not None
    now[0] += jobs_config.stale_after_s + 1
    report = sweeper.sweep()
    assert report.failed == 1 and report.retried == 0
    job = store.get(job_id)
    assert job is not None and job.status == "failed" and job.error_type == "WorkerLost"
    assert "each of 2 attempts" in (job.error or "")


def test_sweeper_cancels_a_stale_job_that_was_being_cancelled(
    jobs_config: JobsConfig, store: JobStore, media: MediaRoot
) -> None:
    job_id = add_job(store, media)
    store.claim(job_id, "w")
    store.request_cancel(job_id)
    later = time.time() + jobs_config.stale_after_s + 1
    report = Sweeper(jobs_config, store, JobQueue(jobs_config), clock=lambda: later).sweep()
    job = store.get(job_id)
    assert report.cancelled == 1 and job is not None and job.status == "cancelled"
    assert not media.job_dir(job_id).exists()


def test_expiry_and_the_free_disk_guard(
    jobs_config: JobsConfig, store: JobStore, media: MediaRoot
) -> None:
    queue = JobQueue(jobs_config)
    finished = []
    for _ in range(3):
        job_id = add_job(store, media)
        claimed = store.claim(job_id, "w")
        assert claimed is not None and claimed.claim is not None
        store.finish(job_id, claimed.claim, "failed", "boom", "X")
        finished.append(job_id)
        time.sleep(0.01)
    waiting = add_job(store, media)

    free = [0]
    sweeper = Sweeper(
        jobs_config.replace(min_free_bytes=100),
        store,
        queue,
        free_bytes=lambda: free[0],
    )
    report = sweeper.sweep()  # disk never frees up: every finished job goes, queued stays
    assert report.freed_for_disk == 3
    assert store.job_ids() == {waiting}
    assert all(not media.job_dir(j).exists() for j in finished)

    free[0] = 10**12
    job_id = add_job(store, media)
    claimed = store.claim(job_id, "w")
    assert claimed is not None and claimed.claim is not None
    store.finish(job_id, claimed.claim, "cancelled", "cancelled by request", "Cancelled")
    later = time.time() + jobs_config.result_ttl_s + 1
    expiring = Sweeper(jobs_config, store, queue, free_bytes=lambda: free[0], clock=lambda: later)
    assert expiring.sweep().expired == 1
    assert store.get(job_id) is None and store.get(waiting) is not None


def test_orphan_directories_are_removed_once_old(media: MediaRoot) -> None:
    orphan = media.create_job_dir(new_job_id())
    assert media.remove_orphans(set(), older_than_s=3600) == 0
    assert media.remove_orphans(set(), older_than_s=-1) == 1
    assert not orphan.exists()


def test_media_root_refuses_paths_outside_it(media: MediaRoot) -> None:
    with pytest.raises(Exception, match="outside the media root"):
        media.resolve("../../etc/passwd")
    with pytest.raises(Exception, match="not a job id"):
        media.job_dir("../x")


def test_queue_messages_are_json_not_pickle(jobs_config: JobsConfig) -> None:
    queue = JobQueue(jobs_config)
    queue.enqueue("a" * 32)
    raw = queue.huey.storage.dequeue()
    message = json.loads(raw)
    assert message["args"] == ["a" * 32] and message["name"].endswith("run_job")
    restored = JsonMessageSerializer().deserialize(raw)
    assert restored.args == ("a" * 32,)


def test_queue_delivers_to_the_handler(jobs_config: JobsConfig) -> None:
    queue = JobQueue(jobs_config)
    seen: list[str] = []
    queue.set_handler(seen.append)
    for name in ("one", "two"):
        queue.enqueue(name)
    assert queue.pending() == 2
    assert queue.drain() == 2 and seen == ["one", "two"]


def test_progress_is_weighted_by_stage_and_never_goes_back() -> None:
    assert overall_progress("faces", 50, 100, 0.0) == pytest.approx(0.125)
    assert overall_progress("sync", 0, 10, 0.25) == pytest.approx(0.3)
    assert overall_progress("sync", 10, 10, 0.3) == pytest.approx(0.98)
    assert overall_progress("some new stage", 1, 2, 0.4) == 0.4
    assert overall_progress("faces", 0, 100, 0.5) == 0.5


def test_option_fields_come_from_the_dataclass() -> None:
    fields = {f.name: f for f in option_fields(SyncOptions)}
    assert set(fields) == {f for f in SyncOptions.__dataclass_fields__}
    assert fields["loop"].kind == "choice" and fields["loop"].choices == ("pingpong", "forward")
    assert fields["pads"].kind == "int_tuple" and fields["pads"].length == 4
    assert fields["box"].optional and fields["fps"].optional and not fields["smooth"].optional
    assert fields["smooth"].help


def test_form_text_becomes_options() -> None:
    options = options_from_form(
        SyncOptions,
        {
            "engine": "wav2lip",
            "fps": "30",
            "smooth": "false",
            "pads": "0, 5, 0, 0",
            "box": "",
            "loop": "forward",
            "batch_size": "8",
        },
    )
    assert options == SyncOptions(
        engine="wav2lip", fps=30.0, smooth=False, pads=(0, 5, 0, 0), loop="forward", batch_size=8
    )
    assert options_from_json(SyncOptions, options_to_json(options)) == options


@pytest.mark.parametrize(
    ("form", "needle"),
    [
        ({"loop": "sideways"}, "loop must be one of pingpong, forward"),
        ({"fps": "fast"}, "fps must be a number"),
        ({"smooth": "maybe"}, "smooth must be true or false"),
        ({"pads": "1,2"}, "pads needs 4 comma-separated integers"),
        ({"fps": "500"}, "fps must be between 1 and 120"),
        ({"face": "left-ish"}, "face must be"),
        ({"colour": "red"}, "unknown option 'colour'"),
    ],
)
def test_bad_form_values_name_the_field(form: dict[str, str], needle: str) -> None:
    with pytest.raises(OptionsError, match=needle):
        options_from_form(SyncOptions, form)


def test_schemas_describe_every_field() -> None:
    as_json = json_schema(SyncOptions)["properties"]
    as_form = form_schema(SyncOptions)["properties"]
    assert set(as_json) == set(as_form) == set(SyncOptions.__dataclass_fields__)
    assert as_json["pads"]["type"] == "array" and as_form["pads"]["type"] == "string"
    assert as_json["box"]["type"] == ["array", "null"]
    assert as_form["loop"]["enum"] == ["pingpong", "forward"]


def test_config_from_environment(tmp_path: Path) -> None:
    config = JobsConfig.from_env(
        {"LIPSYNC_DATA": str(tmp_path), "LIPSYNC_MAX_ATTEMPTS": "5", "LIPSYNC_REDIS_URL": ""}
    )
    assert config.data_dir == tmp_path and config.max_attempts == 5
    assert config.database_url == f"sqlite:///{tmp_path / 'jobs.db'}"
    assert config.queue_backend == "sqlite" and config.media_root == tmp_path / "media"
    with pytest.raises(OptionsError, match="LIPSYNC_MAX_QUEUED must be a number"):
        JobsConfig.from_env({"LIPSYNC_DATA": str(tmp_path), "LIPSYNC_MAX_QUEUED": "many"})
