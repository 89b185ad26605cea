"""Export presets: the platform formats a final clip is rendered in.

These are the defaults (the library's ExportPreset rows are seeded from them and can be edited).
"""

from dataclasses import asdict, dataclass

LOUDNESS_OFF = 0.0  # a preset's loudness_lufs meaning "do not normalise"


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    width: int
    height: int
    fps: int
    crf: int
    video_maxrate_kbps: int
    audio_bitrate_kbps: int = 192
    x264_preset: str = "medium"
    # Loudness target for short-form platforms (integrated LUFS and true peak dBTP): every render
    # is normalised to it (media_pipeline.ops.loudness). loudness_lufs = LOUDNESS_OFF (0) keeps the
    # mix as it is: 0 LUFS is no real target, so it can serve as the switch without a new field.
    loudness_lufs: float = -14.0
    true_peak_db: float = -1.0

    @property
    def bufsize_kbps(self) -> int:
        return self.video_maxrate_kbps * 2

    @property
    def normalises_loudness(self) -> bool:
        return self.loudness_lufs != LOUDNESS_OFF

    def as_dict(self) -> dict:
        return asdict(self)


_VERTICAL = {"width": 1080, "height": 1920, "fps": 30, "crf": 20, "video_maxrate_kbps": 8000}

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("tiktok", "TikTok", **_VERTICAL),
        Preset("instagram_reels", "Instagram Reels", **_VERTICAL),
        Preset("youtube_shorts", "YouTube Shorts", **{**_VERTICAL, "video_maxrate_kbps": 12000}),
        Preset("facebook_reels", "Facebook Reels", **_VERTICAL),
        Preset("instagram_story", "Instagram Story", **_VERTICAL),
        Preset("youtube", "YouTube (landscape)", 1920, 1080, 30, 20, 12000),
        Preset("square", "Square (feed)", 1080, 1080, 30, 20, 8000),
    )
}
DEFAULT_PRESET = "instagram_reels"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})") from None
