"""Typed errors. The library raises these and never prints or exits.

Every error carries a one-line, user-facing message that names the problem (and, where
it helps, the value that caused it). The CLI maps ``exit_code`` to its exit status; the
web layer maps ``http_status`` to a response code.
"""

from __future__ import annotations


class LipsyncError(Exception):
    """Base of every error Lipsync raises on purpose."""

    exit_code = 1
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- bad input -----------------------------------------------------------------------


class InputError(LipsyncError):
    """The user's input (a file or an option) cannot be used."""

    exit_code = 2
    http_status = 400


class OptionsError(InputError):
    """An option has a value that is out of range or malformed."""


class MediaError(InputError):
    """A media file cannot be used as given."""

    http_status = 422


class UnsupportedFormatError(MediaError):
    """The file's bytes are not a container or image format Lipsync accepts."""

    http_status = 415


class UnsupportedCodecError(MediaError):
    """The container is fine but a stream's codec cannot be decoded."""

    http_status = 415


class EmptyMediaError(MediaError):
    """Zero bytes, or a container that holds no decodable frames or samples."""


class CorruptMediaError(MediaError):
    """Truncated or damaged data."""


class NoVideoStreamError(MediaError):
    """A video (or still image) was expected, but the file has no picture."""


class NoAudioStreamError(MediaError):
    """Audio was expected, but the file has no audio stream."""


class LimitExceededError(MediaError):
    """The file exceeds a configured limit (size, dimensions, duration, streams)."""

    http_status = 413


class NoFaceError(InputError):
    """No face was found in any frame of the video."""

    http_status = 422


# --- models --------------------------------------------------------------------------


class ModelError(LipsyncError):
    """A model is missing, unknown, corrupt or cannot be loaded."""

    exit_code = 3
    http_status = 500


class UnknownModelError(ModelError):
    """The name is not in the registry."""

    http_status = 400


class ModelNotInstalledError(ModelError):
    """The model is known but its files are not in the cache."""

    http_status = 409


class ChecksumError(ModelError):
    """A file's SHA-256 or size does not match what the registry or the user expects."""


class CheckpointError(ModelError):
    """A checkpoint file cannot be read as the network it should hold."""


class DownloadError(ModelError):
    """A download failed (network, HTTP status, or an interrupted transfer)."""


# --- run time ------------------------------------------------------------------------


class DeviceError(LipsyncError):
    """The requested compute device is not available."""

    exit_code = 2
    http_status = 400


class Cancelled(LipsyncError):
    """The job was cancelled through its CancelToken."""

    exit_code = 130
    http_status = 409

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)
