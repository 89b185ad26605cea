"""How many threads an ffmpeg run may use, and how far x264 looks ahead: the one rule that bounds
the memory of every encode, whatever the core count (settings EF_ENCODER_THREADS and
EF_ENCODER_LOOKAHEAD).

An encode's memory is mostly frames: x264 keeps each frame thread's frames, its lookahead and its
references, about 13 MB each at 1080x1920 with `medium`'s sub-pixel planes (bench/memory.py: one
more x264 thread costs ~23 MB, five frames of lookahead ~34 MB); every decoder frame thread holds
a frame of its own. Left alone, x264 starts 1.5 threads per core and each decoder one per core
plus one, so memory grew with the machine. `x264_params` is given to every libx264 encode by its
argument builder; `bound_threads` is applied by the runner to every ffmpeg run (each input's
decoder, the filter graphs).
"""

from collections.abc import Sequence

from django.conf import settings

# x264's own rc-lookahead per preset (x264 --fullhelp): the bound never raises it (ultrafast
# has none; a lookahead would only cost memory there).
PRESET_LOOKAHEAD = {
    "ultrafast": 0,
    "superfast": 0,
    "veryfast": 10,
    "faster": 20,
    "fast": 30,
    "medium": 40,
    "slow": 50,
    "slower": 60,
    "veryslow": 60,
    "placebo": 60,
}


# Up to this many threads x264 runs frame threads, its most efficient kind, each holding frames
# of its own (~23 MB more per thread at 1080x1920). With more, it cuts each frame into slices
# encoded side by side (sliced-threads): its memory stays that of one frame in flight however
# many threads run, for a few percent more bits (docs/benchmarks.md, Memory).
FRAME_THREADS_MAX = 2
# Each decoder thread holds a frame too; an encode never waits for more than two.
DECODER_THREADS_MAX = 2


def encoder_threads() -> int:
    return settings.ENCODER_THREADS


def decoder_threads() -> int:
    return min(encoder_threads(), DECODER_THREADS_MAX)


def x264_lookahead(x264_preset: str) -> int:
    return min(settings.ENCODER_LOOKAHEAD, PRESET_LOOKAHEAD.get(x264_preset, 60))


def x264_params(x264_preset: str) -> str:
    """The `-x264-params` of an encode in `x264_preset`. sync-lookahead=0 runs the lookahead in
    the encoding threads instead of a thread of its own with a buffer of frames: the same bits
    (checked: identical output), ~28 MB less at 1080x1920."""
    threads = encoder_threads()
    sliced = ":sliced-threads=1" if threads > FRAME_THREADS_MAX else ""
    return f"threads={threads}{sliced}:rc-lookahead={x264_lookahead(x264_preset)}:sync-lookahead=0"


def bound_threads(args: Sequence[str]) -> list[str]:
    """`args` with the filter graphs' threads bounded and `-threads N` (its decoder's threads)
    before every input, unless the caller chose threads itself."""
    n = str(encoder_threads())
    bounded = ["-filter_threads", n, "-filter_complex_threads", n]
    if "-threads" in args:
        return [*bounded, *args]
    for arg in args:
        if arg == "-i":
            bounded += ["-threads", str(decoder_threads())]
        bounded.append(arg)
    return bounded
