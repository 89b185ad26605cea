"""Tiny generated media for tests: lavfi test sources and sine tones, made with the real ffmpeg."""

import subprocess
from pathlib import Path

from media_pipeline.ops.ffmpeg_bin import ffmpeg_path


class MediaFactory:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._cache: dict[str, Path] = {}

    def _make(self, name: str, args: list[str]) -> Path:
        if name not in self._cache:
            out = self.directory / name
            subprocess.run([ffmpeg_path(), "-v", "error", "-y", *args, str(out)], check=True)
            self._cache[name] = out
        return self._cache[name]

    def video(
        self, *, seconds: float = 2, size: str = "320x240", fps: int = 25, audio: bool = True
    ) -> Path:
        name = f"video-{seconds}-{size}-{fps}-{int(audio)}.mp4"
        args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
        if audio:
            args += [
                "-f",
                "lavfi",
                "-i",
                f"sine=frequency=440:duration={seconds}",
                "-c:a",
                "aac",
                "-shortest",
            ]
        return self._make(
            name, [*args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
        )

    def rotated(self, *, rotation: int = 90, source: Path | None = None) -> Path:
        """A phone-style video: stored landscape (default: `video()`, 320x240) with a display
        matrix rotating it `rotation` degrees counter-clockwise (ffmpeg's -display_rotation)."""
        name = (
            f"rotated-{rotation}.mp4" if source is None else f"rotated-{rotation}-{source.stem}.mp4"
        )
        return self._make(
            name,
            ["-display_rotation", str(rotation), "-i", str(source or self.video()), "-c", "copy"],
        )

    def halves(self, *, seconds: float = 1, size: str = "160x120") -> Path:
        """Left half red, right half blue (no audio): where each colour ends up in an output
        shows how the picture was turned and cropped."""
        width, height = (int(v) for v in size.split("x"))
        half = f"s={width // 2}x{height}:r=10:d={seconds}"
        return self._make(
            f"halves-{seconds}-{size}.mp4",
            ["-filter_complex", f"color=c=red:{half}[l];color=c=blue:{half}[r];[l][r]hstack",
             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
        )  # fmt: skip

    def huge(self, *, size: str = "7680x4320", codec: str = "libx264") -> Path:
        """An 8K video made cheaply: two frames of one colour (one second at 2 fps). `codec`
        "mjpeg" is quicker still for sizes only used to be refused."""
        return self._make(
            f"huge-{size}-{codec}.mkv",
            ["-f", "lavfi", "-i", f"color=c=green:s={size}:r=2:d=1",
             "-c:v", codec, "-pix_fmt", "yuv420p" if codec == "libx264" else "yuvj420p",
             *(["-preset", "ultrafast"] if codec == "libx264" else [])],
        )  # fmt: skip

    def variable_frame_rate(self, *, seconds: float = 3) -> Path:
        """Frame times stretched and squeezed all along: the frame rate changes all the time."""
        return self._make(
            f"vfr-{seconds}.mkv",
            ["-f", "lavfi", "-i", f"testsrc2=s=320x240:r=20:d={seconds}",
             "-vf", "settb=1/1000,setpts='(N/20+0.015*sin(N))/TB'", "-fps_mode", "vfr",
             "-enc_time_base", "1:1000", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
        )  # fmt: skip

    def truncated(self, *, seconds: float = 3) -> Path:
        """The first half of a real mp4 whose index (moov) is written at the end, as ffmpeg does
        without +faststart: an interrupted upload or copy, with no index at all."""
        name = f"truncated-{seconds}.mp4"
        if name not in self._cache:
            data = self.video(seconds=seconds).read_bytes()
            (self.directory / name).write_bytes(data[: len(data) // 2])
            self._cache[name] = self.directory / name
        return self._cache[name]

    def audio(self, *, seconds: float = 2) -> Path:
        return self._make(
            f"tone-{seconds}.m4a",
            ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac"],
        )

    def text_file(self) -> Path:
        path = self.directory / "not-a-video.mp4"
        path.write_text("This is plain text pretending to be a video.\n" * 20)
        return path

    def empty_file(self) -> Path:
        path = self.directory / "empty.mp4"
        path.write_bytes(b"")
        return path

    def speech_wav(
        self,
        text: str = "Hello there. This is a short test of the edit factory.",
        voice: str = "en",
    ) -> Path:
        """Real speech from the offline provider (eSpeak NG)."""
        from media_pipeline.ops.tts.espeak import synthesize

        name = f"speech-{abs(hash((text, voice)))}.wav"
        if name not in self._cache:
            self._cache[name] = synthesize(text, voice=voice).write_wav(self.directory / name)
        return self._cache[name]

    def video_with_speech(
        self, *, lead: float = 1.5, tail: float = 2.0, size: str = "320x240"
    ) -> tuple[Path, tuple[float, float]]:
        """A test-pattern video whose audio is silence, then speech, then silence.
        Returns the file and the (start, end) of the speech in seconds."""
        import wave

        wav = self.speech_wav()
        with wave.open(str(wav)) as w:
            speech = w.getnframes() / w.getframerate()
        total = lead + speech + tail
        name = f"speechvideo-{lead}-{tail}-{size}.mp4"
        path = self._make(
            name,
            ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={total}", "-i", str(wav),
             "-filter_complex", f"[1:a]adelay={int(lead * 1000)}:all=1,apad=whole_dur={total}[a]",
             "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-ar", "44100", "-t", str(total)],
        )  # fmt: skip
        return path, (lead, lead + speech)
