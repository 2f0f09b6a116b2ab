"""Encoding in a child process, so that x264 never waits for the GIL.

PyAV releases the GIL while x264 encodes, but it takes it back several times per frame (to
wrap the picture, to call the encoder, to mux each packet), and each time it waits for the
engine's Python code to let go: beside a busy Python thread a 720p frame took 16 ms to
encode instead of 4.4. In a child process the encoder has no GIL to share.

The child runs an ordinary ``VideoWriter`` (H.264 + AAC, published atomically as usual). The
parent copies each RGB frame into one of ``slots`` frame-sized slots of a shared memory file
(a memfd, inherited by the child) and sends its number; the child hands the number back once
the frame is encoded, and the parent waits for a slot only when all are in use. A caller can
also take a slot (``take_slot``), make its picture there and ``write`` the slot itself: then
nothing is copied at all. A plain
``python -c`` child is started rather than multiprocessing: spawning re-imports the caller's
``__main__``, which a library cannot assume is guarded.

A run that knows it will encode can start the child before it knows the frame size
(``StartedEncoder``): the interpreter and its imports, about 0.4 s of one core, then happen
while the run's first pass warms up and a core is free, instead of holding up its first
frames.

Protocol, all integers 4 bytes little-endian. Parent → child (stdin): one JSON line of
settings, then slot numbers, then ``_FINISH`` or ``_ABORT``. Child → parent (stdout): the
slot numbers it is done with, then ``_FINISHED`` once the file is published. On an error the
child writes ``ClassName<TAB>message`` to stderr and exits with ``_ERROR_STATUS``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import mmap
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import numpy as np

from .. import errors
from ..errors import LipsyncError
from ..options import Limits
from ..threads import child_environment
from .yuv import Matrix

_FINISH = 0xFFFF_FFFF
_ABORT = 0xFFFF_FFFE
_FINISHED = 0xFFFF_FFFD
_ERROR_STATUS = 3
_WORD = struct.Struct("<I")


def supported() -> bool:
    """Whether frames can be shared with a child here (Linux: memfd_create)."""
    return hasattr(os, "memfd_create")


def _slot_shape(width: int, height: int, planes: bool) -> tuple[int, ...]:
    return (height * 3 // 2, width) if planes else (height, width, 3)


def _child_command() -> list[str]:
    """Runs ``_main`` in a fresh interpreter that finds this copy of lipsync: the one
    installed, else (when it was found through ``sys.path``) the folder this one came from,
    searched last so that it shadows nothing."""
    package_root = str(Path(__file__).resolve().parents[2])
    program = (
        f"import sys; sys.path.append({package_root!r}); "
        f"from {__name__} import _main; sys.exit(_main())"
    )
    return [sys.executable, "-c", program]


class StartedEncoder:
    """An encoder process started ahead of its settings, which waits for them with its
    imports done. Give it to one ``EncoderProcess`` (``started=``), which takes it over; one
    that is never given is stopped by ``close`` (a context manager)."""

    def __init__(self) -> None:
        self.memfd = os.memfd_create("lipsync-frames")  # sized once the frames are known
        self.stderr: list[bytes] = []
        self.claimed = False
        try:
            self.process = subprocess.Popen(
                _child_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(self.memfd,),
                env=child_environment(),
            )
        except OSError as exc:
            os.close(self.memfd)
            raise LipsyncError(f"could not start the encoder process: {exc}") from None
        # Errors are read as they come, so a chatty child never blocks on a full pipe.
        self._stderr_reader = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_reader.start()

    def claim(self) -> StartedEncoder:
        """This process, for the ``EncoderProcess`` that will own it (once only)."""
        if self.claimed:
            raise LipsyncError("this encoder process already belongs to an EncoderProcess")
        self.claimed = True
        return self

    def close(self) -> None:
        """Stop the process unless an ``EncoderProcess`` took it over."""
        if not self.claimed:
            self.shut_down()

    def __enter__(self) -> StartedEncoder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def wait(self) -> int:
        """The process's exit status, once its error output is all read."""
        status = self.process.wait()
        self._stderr_reader.join(timeout=5)
        return status

    def shut_down(self) -> None:
        """Close the pipes, kill the process if it still runs, close the shared memory file."""
        process = self.process
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if process.poll() is None:
            process.kill()
            process.wait()
        if self.memfd >= 0:
            os.close(self.memfd)
            self.memfd = -1

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)


class EncoderProcess:
    """A ``VideoWriter`` in normal mode (H.264 + AAC from ``audio``, a file path) running in a
    child process; ``write`` / ``close`` / ``abort`` as ``BackgroundWriter``. ``copy_audio``:
    the sound of ``audio`` is copied as it is (``carry.CopiedAudio``), not encoded.

    Arguments as ``VideoWriter``'s. ``slots``: frames that may wait for the encoder.
    ``planes``: ``write`` takes I420 planes (as ``VideoWriter.write_planes``, in ``matrix``)
    instead of RGB frames; half the bytes to copy, and no colour conversion. Raises the
    child's LipsyncError (the same class and message) from ``write`` or ``close``;
    LipsyncError when the child cannot start or dies.

    ``take_slot`` and ``write`` may be called from different threads. ``started``: a child
    started earlier to take over, closed with this writer even when the arguments are refused.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float,
        width: int,
        height: int,
        *,
        audio: str | os.PathLike[str] | None = None,
        limits: Limits | None = None,
        crf: int = 18,
        preset: str = "veryfast",
        slots: int = 8,
        planes: bool = False,
        matrix: Matrix = "bt601",
        copy_audio: bool = False,
        started: StartedEncoder | None = None,
    ) -> None:
        self._ended = False
        claimed = started.claim() if started is not None else None
        try:
            if width < 1 or height < 1:
                raise errors.OptionsError(f"frame size must be positive, got {width}×{height}")
            if slots < 1:
                raise errors.OptionsError(f"slots must be at least 1, got {slots}")
            if planes and (width % 2 or height % 2):
                raise errors.OptionsError(
                    f"I420 planes need an even frame size, got {width}×{height}"
                )
        except BaseException:
            if claimed is not None:
                claimed.shut_down()
            raise
        self._child = claimed if claimed is not None else StartedEncoder()
        self._shape = _slot_shape(width, height, planes)
        self._frame_bytes = math.prod(self._shape)
        try:
            memfd = self._child.memfd
            os.ftruncate(memfd, slots * self._frame_bytes)
            self._memory = mmap.mmap(memfd, slots * self._frame_bytes)
            self._slots = np.frombuffer(self._memory, np.uint8).reshape(slots, *self._shape)
            self._free = list(range(slots))
            self._taken: set[int] = set()  # by ``take_slot``, not yet written
            self._slot_lock = threading.Lock()  # ``_free`` and ``_taken``
            self._reply_lock = threading.Lock()  # one reader of the child's replies at a time
            settings = {
                "path": str(path),
                "fps": fps,
                "width": width,
                "height": height,
                "audio": None if audio is None else str(audio),
                "copy_audio": copy_audio,
                "limits": dataclasses.asdict(limits or Limits()),
                "crf": crf,
                "preset": preset,
                "memfd": memfd,
                "slots": slots,
                "planes": planes,
                "matrix": matrix,
            }
            self._send_bytes(json.dumps(settings).encode() + b"\n")
        except BaseException:
            self._release()
            raise

    # -- the parent's side ------------------------------------------------------------------

    def write(self, frame: np.ndarray) -> None:
        """Queue one uint8 RGB (H, W, 3) frame, or I420 planes (H·3/2, W) with ``planes``:
        copied (the array may be reused at once), unless it is a slot from ``take_slot``,
        which is sent as it is and must not be touched again."""
        if frame.shape != self._shape or frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 {self._shape}, got {frame.dtype} {frame.shape}")
        slot = self._slot_of(frame)
        if slot is None:
            slot = self._next_free()
            np.copyto(self._slots[slot], frame)
        self._send(slot)

    def take_slot(self) -> np.ndarray:
        """A free slot to make a frame in (uint8, the shape ``write`` takes; its content is
        left over from an earlier frame), waiting for the child to hand one back if all are
        in use. It is the caller's until given to ``write``. A caller that holds several at
        once must leave the child at least one of ``slots``, or it waits for ever."""
        slot = self._next_free()
        with self._slot_lock:
            self._taken.add(slot)
        return self._slots[slot]

    def _next_free(self) -> int:
        # Waiting for the child never holds ``_slot_lock``: ``write`` needs it meanwhile.
        with self._reply_lock:
            while True:
                with self._slot_lock:
                    if self._free:
                        return self._free.pop()
                returned = self._receive()
                with self._slot_lock:
                    self._free.append(returned)

    def _slot_of(self, frame: np.ndarray) -> int | None:
        """The taken slot that ``frame`` is (the whole of it), if any."""
        offset = frame.__array_interface__["data"][0] - self._slots.__array_interface__["data"][0]
        slot, rest = divmod(offset, self._frame_bytes)
        with self._slot_lock:
            if rest or slot not in self._taken or not frame.flags.c_contiguous:
                return None
            self._taken.discard(slot)
        return int(slot)

    def close(self) -> None:
        """Encode what is queued, publish the file and stop the child; raises its error."""
        self._ended = True
        self._send(_FINISH)
        while self._receive() != _FINISHED:
            pass
        self._wait()
        self._release()

    def abort(self) -> None:
        """Stop without publishing anything (the child removes its partial file); nothing
        to do after ``close``."""
        if self._ended:
            return
        self._ended = True
        with contextlib.suppress(LipsyncError):
            self._send(_ABORT)
        try:
            self._child.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._child.process.kill()
            self._child.process.wait()
        self._release()

    def _send(self, word: int) -> None:
        self._send_bytes(_WORD.pack(word))

    def _send_bytes(self, data: bytes) -> None:
        assert self._child.process.stdin is not None
        try:
            self._child.process.stdin.write(data)
            self._child.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            self._raise_child_error()

    def _receive(self) -> int:
        assert self._child.process.stdout is not None
        data = self._child.process.stdout.read(_WORD.size)
        if len(data) < _WORD.size:
            self._raise_child_error()
        return int(_WORD.unpack(data)[0])

    def _wait(self) -> int:
        return self._child.wait()

    def _raise_child_error(self) -> None:
        status = self._wait()
        self._release()
        text = b"".join(self._child.stderr).decode("utf-8", "replace").strip()
        if status == _ERROR_STATUS and "\t" in text:
            name, message = text.splitlines()[-1].split("\t", 1)
            kind = getattr(errors, name, None)
            if isinstance(kind, type) and issubclass(kind, LipsyncError):
                raise kind(message)
        detail = text.splitlines()[-1] if text else f"exit status {status}"
        raise LipsyncError(f"the encoder process failed: {detail}")

    def _release(self) -> None:
        if hasattr(self, "_slots"):
            del self._slots
            # Slots still held elsewhere (``take_slot``) keep the mapping alive; it goes
            # with the last of them.
            with contextlib.suppress(BufferError):
                self._memory.close()
        self._child.shut_down()


# -- the child's side -----------------------------------------------------------------------


class _Aborted(Exception):
    """The parent asked for the file to be dropped (or went away)."""


def _read_word(stream: IO[bytes]) -> int:
    data = stream.read(_WORD.size)
    if len(data) < _WORD.size:
        raise _Aborted  # the parent is gone: nothing may be published
    return int(_WORD.unpack(data)[0])


def _encode(settings: dict[str, Any], commands: IO[bytes], replies: IO[bytes]) -> None:
    from ..threads import library_threads
    from .audio import AudioSource, iter_audio
    from .carry import CopiedAudio
    from .writer import VideoWriter

    height, width = int(settings["height"]), int(settings["width"])
    slots, planes = int(settings["slots"]), bool(settings["planes"])
    shape = _slot_shape(width, height, planes)
    memory = mmap.mmap(int(settings["memfd"]), slots * math.prod(shape))
    frames = np.frombuffer(memory, np.uint8).reshape(slots, *shape)
    limits = Limits(**settings["limits"])
    audio: AudioSource | CopiedAudio | None = None
    if settings["audio"] is not None and settings["copy_audio"]:
        audio = CopiedAudio(settings["audio"], limits)
    elif settings["audio"] is not None:
        audio = iter_audio(Path(settings["audio"]), limits)
    writer = VideoWriter(
        settings["path"],
        float(settings["fps"]),
        width,
        height,
        audio=audio,
        crf=int(settings["crf"]),
        preset=str(settings["preset"]),
        matrix=settings["matrix"],
    )
    with library_threads(), writer:  # one thread per library on a small machine
        while True:
            word = _read_word(commands)
            if word == _FINISH:
                break
            if word == _ABORT or word >= slots:
                raise _Aborted
            if planes:
                # Encoded from the slot itself: the parent reuses it only once it is handed
                # back below, after the encoder has taken its own copy.
                writer.write_planes(frames[word], copy=False)
            else:
                writer.write(frames[word])
            replies.write(_WORD.pack(word))
            replies.flush()
    replies.write(_WORD.pack(_FINISHED))
    replies.flush()


def _main() -> int:
    # Replies get a descriptor of their own; anything else printed to stdout goes to stderr,
    # where it cannot be taken for a slot number.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    commands = sys.stdin.buffer
    # Everything the encoding needs is imported before the settings are awaited, so that a
    # child started ahead (``StartedEncoder``) has its start-up behind it when they come.
    from .. import threads  # noqa: F401
    from . import carry, writer  # noqa: F401

    settings = commands.readline()
    if not settings:
        return 0  # stopped before it was given any work
    try:
        _encode(json.loads(settings), commands, replies)
    except _Aborted:
        return 0
    except LipsyncError as error:
        sys.stderr.write(f"{type(error).__name__}\t{error}\n")
        return _ERROR_STATUS
    except BrokenPipeError:
        return 0  # the parent stopped listening; the writer already discarded the file
    return 0


if __name__ == "__main__":
    sys.exit(_main())
