"""ffmpeg argument lists of the TTS job types, built with ffmpeg-python (pure functions, run by
`media_pipeline.ffmpeg_run`)."""

import ffmpeg

AUDIO_BITRATE = "128k"  # speech: plenty for AAC
MIX_BITRATE = "192k"


def build_encode_args(wav: str, output: str) -> list[str]:
    """The tightened speech WAV -> AAC in an .m4a, playable while downloading."""
    return (
        ffmpeg.input(wav)
        .output(output, acodec="aac", movflags="+faststart", **{"b:a": AUDIO_BITRATE})
        .get_args()
    )


def output_suffix(container_format: str) -> str:
    """Stream-copied video stays in a container that holds its codec: Matroska/WebM sources go
    to .mkv, everything else to .mp4."""
    names = set(container_format.split(","))
    return ".mkv" if names & {"matroska", "webm"} else ".mp4"


def build_add_tts_args(
    video: str,
    tts: str,
    output: str,
    *,
    duration: float,
    duck_level: float,
    has_audio: bool,
) -> list[str]:
    """One video with the TTS track mixed in; the video stream is copied, never re-encoded.

    With original audio: the original lowered to `duck_level` (0.10 = 10 %) plus the TTS at full
    level (amix without normalisation, which would halve both), lasting as long as the original
    audio. Without: the TTS alone, padded with silence or cut to the video's duration."""
    source, speech = ffmpeg.input(video), ffmpeg.input(tts)
    if has_audio:
        ducked = source.audio.filter("volume", volume=f"{duck_level:.3f}")
        audio = ffmpeg.filter(
            [ducked, speech.audio], "amix", inputs=2, duration="first", normalize=0
        )
    else:
        length = f"{duration:.3f}"
        audio = speech.audio.filter("apad", whole_dur=length).filter("atrim", end=length)
    mp4 = {"movflags": "+faststart"} if output.endswith((".mp4", ".mov")) else {}
    return ffmpeg.output(
        source.video, audio, output, vcodec="copy", acodec="aac", **mp4, **{"b:a": MIX_BITRATE}
    ).get_args()
