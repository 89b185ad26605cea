"""Media errors. `permanent = True` tells the job engine that retrying cannot help."""


class MediaError(Exception):
    permanent = False


class InvalidMediaError(MediaError):
    """The input is not usable media (not media, truncated, empty, missing a needed stream...)."""

    permanent = True


class FFmpegError(MediaError):
    """ffmpeg exited with an error; the message carries the tail of its log."""

    def __init__(self, message: str, returncode: int | None = None, log_tail: str = ""):
        super().__init__(message)
        self.returncode = returncode
        self.log_tail = log_tail


class FFmpegUnavailable(MediaError):
    """No ffmpeg the product can use (`ffmpeg_bin`): EF_FFMPEG names one that fails the check,
    or neither the system's nor the shipped one passes. Retrying cannot help until an operator
    fixes it. The message names what is missing, never a path (it reaches /health)."""

    permanent = True
