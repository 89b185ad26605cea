"""The render options over HTTP, each one changing the real output (ffmpeg on small lavfi media,
the offline voice): sync policies change the duration, audio modes the sound, karaoke lights the
words on the frames; bad options are 422s naming the field; cues outside the output are
reported; export presets carry the options' defaults."""

import subprocess

import numpy as np
import pytest

from jobs.models import Job
from jobs.status import JobStatus
from media_pipeline.library.models import Export, ExportPreset
from media_pipeline.ops.ffmpeg_bin import ffmpeg_path
from media_pipeline.ops.probe import probe_media
from tests.conftest import run_burst_worker
from tests.media_pipeline.api_render.conftest import API, add_content, make_clip, post_json
from tests.stored import stored_path

pytestmark = pytest.mark.django_db(transaction=True)

SHORT_VOICE = "Hi there."  # about 0.7 s: shorter than a 4 s clip
LONG_VOICE = "This voice over is longer than the two seconds of the clip itself."  # about 3.5 s
RED = "#FF0000"


def _render(api, clip, **options):
    return post_json(api, f"{API}/clips/{clip.id}/render", {"preset": "tiny", **options})


def _rendered(api, clip, **options) -> tuple[Job, str]:
    """Render through the API with a real worker: the completed job and the output's path."""
    response = _render(api, clip, **options)
    assert response.status_code == 202, response.content
    run_burst_worker()
    job = Job.objects.get(id=response.json()["job_id"])
    assert job.status == JobStatus.COMPLETED, job.error
    export = Export.objects.get(id=response.json()["export_id"])
    return job, stored_path(export.file.name)


def _decode(path: str, *args: str) -> bytes:
    command = [ffmpeg_path(), "-v", "error", "-i", path, *args, "-"]
    return subprocess.run(command, check=True, capture_output=True).stdout


def tone_share(path: str, frequency: float = 440.0) -> float:
    """The share of the audio's power within 15 Hz of `frequency` (the clips' sine tone)."""
    samples = np.frombuffer(_decode(path, "-ac", "1", "-ar", "16000", "-f", "f32le"), np.float32)
    power = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / 16000)
    return float(power[np.abs(freqs - frequency) < 15].sum() / max(power.sum(), 1e-12))


def tail_db(path: str, start: float) -> float:
    """The RMS level (dBFS) of the audio from `start` seconds to the end."""
    samples = np.frombuffer(
        _decode(path, "-ss", f"{start:.2f}", "-ac", "1", "-ar", "16000", "-f", "f32le"), np.float32
    )
    return float(20 * np.log10(max(np.sqrt(np.mean(samples.astype(np.float64) ** 2)), 1e-9)))


def red_pixels(path: str, at: float) -> int:
    """Pixels of pure highlight red in the frame at `at` seconds (180x320 output)."""
    raw = _decode(path, "-ss", f"{at:.2f}", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24")
    frame = np.frombuffer(raw, np.uint8).reshape(320, 180, 3).astype(int)
    red, green, blue = frame[..., 0], frame[..., 1], frame[..., 2]
    return int(((red > 200) & (green < 70) & (blue < 70)).sum())


@pytest.fixture
def gray_clip(user, media):
    """A plain gray 4 s clip with a 440 Hz tone: any red on its frames is the captions'."""
    path = media._make(
        "gray-4.mp4",
        ["-f", "lavfi", "-i", "color=c=gray:size=320x240:rate=25:duration=4",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=4", "-c:v", "libx264",
         "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"],
    )  # fmt: skip
    return make_clip(user, path)


# --- sync policies ------------------------------------------------------------------------------


def test_sync_policies_set_the_duration(api, user, media, tiny_preset):
    long_clip = make_clip(user, media.video(seconds=4))
    add_content(long_clip, tts_text=SHORT_VOICE, tts_provider="offline")
    lengths = {}
    for sync in ("loop", "trim", "keep"):
        job, path = _rendered(api, long_clip, sync=sync)
        assert job.result["sync"] == sync
        assert probe_media(path).duration == pytest.approx(job.result["duration"], abs=0.01)
        lengths[sync] = (job.result["duration"], job.result["voiceover"]["duration"])
    # A voice-over shorter than the clip: loop and trim end with it, keep keeps the clip's 4 s.
    for sync in ("loop", "trim"):
        duration, voice = lengths[sync]
        assert duration == pytest.approx(voice, abs=0.1) and duration < 2
    assert lengths["keep"][0] == pytest.approx(4.0, abs=0.1)

    short_clip = make_clip(user, media.video(seconds=2))
    add_content(short_clip, tts_text=LONG_VOICE, tts_provider="offline")
    loop, _ = _rendered(api, short_clip, sync="loop")
    trim, _ = _rendered(api, short_clip, sync="trim")
    # A voice-over longer than the clip: loop repeats the clip to its end, trim stops at 2 s.
    assert loop.result["duration"] == pytest.approx(loop.result["voiceover"]["duration"], abs=0.1)
    assert loop.result["duration"] > 3 and len(loop.result["timeline"]) == 2
    assert trim.result["duration"] == pytest.approx(2.0, abs=0.1)
    assert len(trim.result["timeline"]) == 1


# --- audio modes --------------------------------------------------------------------------------


def test_audio_modes_change_the_sound(api, gray_clip, tiny_preset):
    add_content(gray_clip, tts_text=SHORT_VOICE, tts_provider="offline")
    shares, tails = {}, {}
    for mode in ("keep", "duck", "replace"):
        job, path = _rendered(api, gray_clip, sync="keep", audio_mode=mode, duck_level=0.3)
        assert job.result["audio_mode"] == mode and probe_media(path).has_audio
        assert job.result["voiceover"]["duration"] < 1.5  # then only the clip's sound, if any
        shares[mode], tails[mode] = tone_share(path), tail_db(path, 1.5)
    # keep: the tone alone; replace: the voice alone (silence after it); duck: both, the tone
    # lowered under the voice (the loudness normalisation then sets the level of the whole mix,
    # so the share of the tone tells the modes apart, not its level alone).
    assert shares["keep"] > 0.99 and tails["keep"] > -30
    assert tails["replace"] < -70 and shares["replace"] < 0.05
    assert 0.2 < shares["duck"] < 0.9 and tails["duck"] > -30
    _, quieter = _rendered(api, gray_clip, sync="keep", audio_mode="duck", duck_level=0.02)
    assert tone_share(quieter) < shares["duck"] / 3  # the level is the one asked for


# --- karaoke ------------------------------------------------------------------------------------


def test_karaoke_lights_the_spoken_words_on_the_frames(api, gray_clip, tiny_preset):
    add_content(gray_clip, tts_text="Red words light up here.", tts_provider="offline")
    style = {"fontSize": 30, "textColor": "#FFFFFF", "highlightColor": RED, "positionY": 50}
    lit, lit_path = _rendered(api, gray_clip, karaoke=True, sync="keep", subtitle_style=style)
    plain, plain_path = _rendered(api, gray_clip, karaoke=False, sync="keep", subtitle_style=style)
    assert (lit.result["karaoke"], plain.result["karaoke"]) == (True, False)
    late = lit.result["voiceover"]["duration"] - 0.15  # most words spoken by then
    assert red_pixels(lit_path, late) > 40
    assert red_pixels(lit_path, 0.02) < red_pixels(lit_path, late)  # lit as they are spoken
    assert red_pixels(plain_path, late) == 0
    assert lit.result["warnings"] == []


def test_a_presets_karaoke_on_a_clip_without_voiceover_is_a_stated_warning(api, clip, tiny_preset):
    ExportPreset.objects.filter(id=tiny_preset.id).update(karaoke=True)
    add_content(clip, srt="1\n00:00:00,000 --> 00:00:01,000\nNo voice\n")
    job, _ = _rendered(api, clip)
    assert job.result["karaoke"] is False
    assert job.result["warnings"] == [
        "Karaoke was asked for, but the render has no voice-over with word timings: "
        "the captions were shown plainly."
    ]


# --- presets and precedence ---------------------------------------------------------------------


def test_preset_defaults_apply_and_the_request_overrides_them(api, clip, tiny_preset):
    ExportPreset.objects.filter(id=tiny_preset.id).update(
        karaoke=True, sync="keep", audio_mode="replace", duck_level=0.5
    )
    add_content(clip, tts_text=SHORT_VOICE, subtitle_settings={"fontSize": 20, "bold": False})
    listed = next(p for p in api.get(f"{API}/export-presets").json() if p["name"] == "tiny")
    assert (listed["karaoke"], listed["sync"], listed["audio_mode"], listed["duck_level"]) == (
        True,
        "keep",
        "replace",
        0.5,
    )
    by_preset = _render(api, clip).json()
    asked = _render(api, clip, karaoke=False, audio_mode="duck", subtitle_style={"fontSize": 60})
    assert asked.status_code == 202, asked.content
    assert Export.objects.get(id=by_preset["export_id"]).options == {
        "karaoke": True,
        "sync": "keep",
        "audio_mode": "replace",
        "duck_level": 0.5,
        "subtitle_style": {},
    }
    assert Export.objects.get(id=asked.json()["export_id"]).options == {
        "karaoke": False,
        "sync": "keep",
        "audio_mode": "duck",
        "duck_level": 0.5,
        "subtitle_style": {"fontSize": 60},  # only the field given
    }
    progress = api.get(f"{API}/clips/{clip.id}/render/progress").json()
    assert progress["options"]["subtitle_style"] == {"fontSize": 60}
    # The override goes over the clip's own settings, field by field.
    from media_pipeline.library.media import clip_recipe

    export = Export.objects.get(id=asked.json()["export_id"])
    style = clip_recipe(clip=clip, options=export.options).subtitle_style
    assert (style.fontSize, style.bold) == (60, False)


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sync": "stretch"}, "sync"),
        ({"audio_mode": "loud"}, "audio_mode"),
        ({"duck_level": 1.5}, "duck_level"),
        ({"karaoke": "sometimes"}, "karaoke"),
        ({"subtitle_style": {"fontSize": 1000}}, "subtitle_style.fontSize"),
        ({"subtitle_style": {"textColor": "red"}}, "subtitle_style.textColor"),
        ({"subtitle_style": {"colour": "#FFFFFF"}}, "subtitle_style.colour"),
        ({"subtitle_style": "big"}, "subtitle_style"),
    ],
)
def test_bad_options_are_422_naming_the_field(api, user, media, clip, tiny_preset, body, field):
    single = _render(api, clip, **body)
    bulk = post_json(api, f"{API}/clips/bulk-render", {"clip_ids": [clip.id], **body})
    for response in (single, bulk):
        assert response.status_code == 422, response.content
        error = response.json()["error"]
        assert error["message"].startswith(f"'{field}': "), error["message"]
        path = field.split(".")
        assert error["details"][0]["loc"][-len(path) :] == path
    assert not Export.objects.exists() and not Job.objects.exists()


def test_explicit_karaoke_without_a_voiceover_is_422(api, user, media, clip, tiny_preset):
    voiced = make_clip(user, media.video())
    add_content(voiced, tts_text=SHORT_VOICE)
    add_content(clip, srt="1\n00:00:00,000 --> 00:00:01,000\nNo voice\n")
    single = _render(api, clip, karaoke=True)
    bulk = post_json(
        api, f"{API}/clips/bulk-render", {"clip_ids": [voiced.id, clip.id], "karaoke": True}
    )
    for response in (single, bulk):
        assert response.status_code == 422, response.content
        error = response.json()["error"]
        assert error["message"].startswith(f"'karaoke': clip {clip.id} has no voice-over text")
        assert error["details"][0]["field"] == "karaoke"
    assert not Export.objects.exists() and not Job.objects.exists()  # all or nothing


# --- cues outside the output --------------------------------------------------------------------

CUES = (
    "1\n00:00:00,000 --> 00:00:01,000\nInside\n\n"
    "2\n00:00:01,500 --> 00:00:03,000\nRuns past the end\n\n"
    "3\n00:00:03,000 --> 00:00:04,000\nAfter the end\n"
)


def test_cues_outside_the_output_are_reported_in_the_result_and_the_progress(
    api, clip, tiny_preset
):
    add_content(clip, srt=CUES)  # a 2 s clip, no voice-over: the output lasts 2 s
    job, path = _rendered(api, clip)
    duration = probe_media(path).duration
    assert job.result["duration"] == duration == pytest.approx(2.0, abs=0.05)
    assert job.result["cues_outside"] == [
        {"index": 2, "start": 1.5, "end": 3.0, "text": "Runs past the end", "outcome": "cut"},
        {"index": 3, "start": 3.0, "end": 4.0, "text": "After the end", "outcome": "dropped"},
    ]
    assert job.result["warnings"] == [
        f"Subtitle cue 3 starts after the render ends ({duration:.2f} s) and was not shown; "
        "choose sync 'loop' or 'keep', or edit the subtitles.",
        f"Subtitle cue 2 runs past the render's end ({duration:.2f} s) and was cut there.",
    ]
    progress = api.get(f"{API}/clips/{clip.id}/render/progress").json()
    assert progress["status"] == "completed" and progress["duration"] == duration
    assert progress["cues_outside"] == job.result["cues_outside"]
    assert progress["warnings"] == job.result["warnings"]


def test_a_render_whose_cues_all_fit_says_so(api, clip, tiny_preset):
    add_content(clip, srt="1\n00:00:00,000 --> 00:00:01,500\nAll inside\n")
    job, _ = _rendered(api, clip)
    assert (job.result["cues_outside"], job.result["warnings"]) == ([], [])
