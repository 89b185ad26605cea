"""Media information through PyAV (works with or without a system ffprobe)."""

import dataclasses
from pathlib import Path

import av

from media_pipeline.ops.errors import InvalidMediaError

MAX_PIXELS = 8192 * 8192
# Demuxers of real audio/video containers. ffmpeg also "opens" text (tty), images and playlists,
# which must not pass as media.
MEDIA_FORMATS = frozenset(
    "mov mp4 m4a 3gp 3g2 mj2 matroska webm avi mpegts mpeg flv ogg wav w64 mp3 aac flac asf "
    "mxf h264 hevc aiff caf amr".split()
)


def aspect_label(width: int, height: int) -> str:
    if not width or not height:
        return "unknown"
    ratio = width / height
    if abs(ratio - 1.0) < 0.05:
        return "square"
    return "landscape" if ratio > 1 else "portrait"


def _rotation(container, stream) -> int:
    """Clockwise display rotation in degrees (0/90/180/270), as phones tag their videos."""
    try:
        frame = next(container.decode(stream))
    except (StopIteration, av.FFmpegError):
        return 0
    ccw = getattr(frame, "rotation", 0) or 0
    return int(round(-ccw / 90.0)) * 90 % 360


def _open(path: Path):
    if not path.exists() or path.stat().st_size == 0:
        raise InvalidMediaError("the file is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise InvalidMediaError(f"not a readable media file ({exc.strerror or exc})") from None
    if not MEDIA_FORMATS.intersection(container.format.name.split(",")):
        container.close()
        raise InvalidMediaError(
            f"not a video or audio file (detected format '{container.format.name}')"
        )
    return container


def _duration(container, streams) -> float:
    if container.duration:
        return container.duration / av.time_base
    for s in streams:
        if s.duration and s.time_base:
            return float(s.duration * s.time_base)
    return 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class MediaInfo:
    """What `probe_media` learns of a file. Without audio the audio_* fields are None; without
    video video_codec is None, width and height 0, fps 0.0, rotation 0, aspect "unknown"."""

    duration: float  # seconds, rounded to the millisecond
    has_video: bool
    has_audio: bool
    format: str  # the demuxer's name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    bitrate: int  # the container's, 0 when unknown
    size_bytes: int
    video_codec: str | None
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: int | None
    width: int  # display size: rotation applied
    height: int
    fps: float
    rotation: int  # clockwise degrees: 0, 90, 180 or 270
    aspect: str  # "landscape", "portrait", "square" or "unknown"

    def as_dict(self) -> dict:
        """The JSON form (job results, SourceVideo.media_info): the fields in declaration order."""
        return dataclasses.asdict(self)


def probe_media(path: Path, *, rotation: bool = True) -> MediaInfo:
    """Duration, fps, dimensions (rotation applied), rotation, codecs, bitrate, has_audio,
    aspect label. Raises InvalidMediaError for anything that is not usable media.
    `rotation=False` skips reading it (it takes decoding a frame: the probe of a 1080p H.264
    source 35-43 ms against 12 ms): for files the product wrote, which never carry one, and
    for callers that use neither the rotation nor the display size (voice detection, muting)."""
    with _open(Path(path)) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise InvalidMediaError("the file has no audio or video stream")
        duration = _duration(container, [s for s in (video, audio) if s])
        if video is not None:
            picture = _video_info(container, video, rotation=rotation)
        else:
            picture = dict(width=0, height=0, fps=0.0, rotation=0, aspect="unknown")
        return MediaInfo(
            duration=round(duration, 3),
            has_video=video is not None,
            has_audio=audio is not None,
            format=container.format.name,
            bitrate=container.bit_rate or 0,
            size_bytes=Path(path).stat().st_size,
            video_codec=video.codec_context.name if video else None,
            audio_codec=audio.codec_context.name if audio else None,
            audio_sample_rate=audio.codec_context.sample_rate if audio else None,
            audio_channels=audio.codec_context.channels if audio else None,
            **picture,
        )


def require_video(info: MediaInfo, *, label: str = "the file") -> MediaInfo:
    """The probe of a file a job needs video from; InvalidMediaError naming `label` otherwise."""
    if not info.has_video:
        raise InvalidMediaError(f"{label} has no video stream")
    if info.duration <= 0:
        raise InvalidMediaError(f"{label} has zero length")
    return info


def _video_info(container, video, *, rotation: bool) -> dict:
    width, height = video.codec_context.width, video.codec_context.height
    if not width or not height:
        raise InvalidMediaError("the video stream has no dimensions (corrupt or truncated file)")
    if width * height > MAX_PIXELS:
        raise InvalidMediaError(f"video dimensions {width}x{height} are too large (max 8192x8192)")
    rate = video.average_rate or video.guessed_rate or video.base_rate
    degrees = _rotation(container, video) if rotation else 0
    if degrees in (90, 270):
        width, height = height, width
    return {
        "width": width,
        "height": height,
        "fps": round(float(rate), 3) if rate else 0.0,
        "rotation": degrees,
        "aspect": aspect_label(width, height),
    }
