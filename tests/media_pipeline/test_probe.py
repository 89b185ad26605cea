"""probe_media's typed result: its dict form keeps the shape job results and stored rows had."""

import dataclasses
import json

import pytest

from media_pipeline.ops.errors import InvalidMediaError
from media_pipeline.ops.probe import MediaInfo, probe_media, require_video

# The keys, in order, of the dict probe_media returned before it was typed.
DICT_KEYS = [
    "duration", "has_video", "has_audio", "format", "bitrate", "size_bytes", "video_codec",
    "audio_codec", "audio_sample_rate", "audio_channels", "width", "height", "fps", "rotation",
    "aspect",
]  # fmt: skip
MP4 = "mov,mp4,m4a,3gp,3g2,mj2"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            lambda media: media.video(seconds=2, size="320x240", fps=25),
            {"has_video": True, "has_audio": True, "format": MP4, "video_codec": "h264",
             "audio_codec": "aac", "audio_sample_rate": 44100, "audio_channels": 1,
             "width": 320, "height": 240, "fps": 25.0, "rotation": 0, "aspect": "landscape"},
        ),
        (  # 90° counter-clockwise is 270° clockwise: displayed portrait
            lambda media: media.rotated(rotation=90),
            {"has_video": True, "has_audio": True, "format": MP4, "video_codec": "h264",
             "audio_codec": "aac", "audio_sample_rate": 44100, "audio_channels": 1,
             "width": 240, "height": 320, "fps": 25.0, "rotation": 270, "aspect": "portrait"},
        ),
        (
            lambda media: media.audio(seconds=2),
            {"has_video": False, "has_audio": True, "format": MP4, "video_codec": None,
             "audio_codec": "aac", "audio_sample_rate": 44100, "audio_channels": 1,
             "width": 0, "height": 0, "fps": 0.0, "rotation": 0, "aspect": "unknown"},
        ),
        (
            lambda media: media.video(seconds=2, audio=False),
            {"has_video": True, "has_audio": False, "format": MP4, "video_codec": "h264",
             "audio_codec": None, "audio_sample_rate": None, "audio_channels": None,
             "width": 320, "height": 240, "fps": 25.0, "rotation": 0, "aspect": "landscape"},
        ),
    ],
    ids=["video", "rotated", "audio only", "video only"],
)  # fmt: skip
def test_as_dict_has_the_old_dict_shape_and_round_trips(media, make, expected):
    path = make(media)
    info = probe_media(path)
    as_dict = info.as_dict()
    assert list(as_dict) == DICT_KEYS
    assert {k: as_dict[k] for k in expected} == expected
    assert isinstance(as_dict["duration"], float)
    assert as_dict["duration"] == pytest.approx(2, abs=0.05)
    assert as_dict["size_bytes"] == path.stat().st_size
    assert isinstance(as_dict["bitrate"], int) and as_dict["bitrate"] > 0
    # Every value is JSON as it is (job results, SourceVideo.media_info), and the dict maps back.
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert MediaInfo(**as_dict) == info
    assert all(getattr(info, key) == value for key, value in as_dict.items())


def test_media_info_is_frozen(media):
    info = probe_media(media.video())
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.duration = 0.0  # type: ignore[misc]


def test_require_video_returns_the_probe_or_names_the_file(media):
    info = probe_media(media.video())
    assert require_video(info, label="the source") is info
    with pytest.raises(InvalidMediaError, match="^input 'main' has no video stream$"):
        require_video(probe_media(media.audio()), label="input 'main'")
    with pytest.raises(InvalidMediaError, match="^the clip has zero length$"):
        require_video(dataclasses.replace(info, duration=0.0), label="the clip")
