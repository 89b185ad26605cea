"""The Silero model pool (`vad_models`): a model given back is reset before it scores another
stream, streams side by side each hold their own, and a model loaded before a fork (what `up`
does) serves the forked child without loading another."""

import os

import av
import numpy as np
import pytest

from media_pipeline.ops import vad_models
from media_pipeline.ops.vad_models import VAD_RATE
from media_pipeline.ops.voice_detect import vad_blocks, vad_probabilities


@pytest.fixture
def empty_pool():
    """The process's pool emptied for the test, then put back as it was."""
    kept = list(vad_models._idle)
    vad_models._idle.clear()
    yield
    vad_models._idle[:] = kept


@pytest.fixture(scope="module")
def speech_chunks(media):
    """Real speech as the detection's decoder hands it out: 16 kHz mono float32 chunks."""
    with av.open(str(media.speech_wav())) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=VAD_RATE)
        return [
            out.to_ndarray().reshape(-1).copy()
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]


def test_a_model_given_back_is_reset_before_it_scores_another_stream(empty_pool, speech_chunks):
    first = vad_probabilities(speech_chunks)  # a model loaded for it
    assert max(first) > 0.9  # the model heard the speech: its recurrent state is far from zero
    [model] = vad_models._idle
    again = vad_probabilities(speech_chunks)
    assert vad_models._idle == [model]  # the same model, not a second one
    assert again == first  # nothing of the first stream carried over


def test_streams_side_by_side_each_hold_their_own_model(empty_pool, speech_chunks):
    vad_models.preload()
    expected = vad_probabilities(speech_chunks)
    one, two = vad_blocks(speech_chunks), vad_blocks(speech_chunks)
    firsts = next(one), next(two)
    assert vad_models.idle_count() == 0  # the preloaded one and a second, loaded
    rest = [p for block in one for p in block], [p for block in two for p in block]
    assert [first + more for first, more in zip(firsts, rest, strict=True)] == [expected, expected]
    assert vad_models.idle_count() == 2


def test_a_stream_without_audio_takes_no_model(empty_pool):
    assert vad_probabilities([]) == []
    assert vad_models.idle_count() == 0


def test_a_model_loaded_before_a_fork_serves_the_child(empty_pool, speech_chunks):
    """`up` preloads one, then forks its workers (whose fork servers fork each job's horse)."""
    from media_pipeline.jobtypes import warm_for_workers

    warm_for_workers()
    expected = vad_probabilities(speech_chunks)
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the inherited model gave the same probabilities
        code = 1
        try:

            def no_load():
                raise AssertionError("a model was loaded in the child")

            vad_models.load = no_load
            code = 0 if vad_probabilities(speech_chunks) == expected else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_up_loads_a_model_for_its_workers_before_forking(empty_pool):
    """`up` prepares each child's target in its own process before the first fork
    (`editfactory.forking.preload`): a worker's preparation leaves an idle model there."""
    from editfactory.management.commands.up import Command, child_env
    from editfactory.roles import ROLES
    from jobs.queues import worker_plan

    children = Command()._children(
        child_env({}, production=False), ROLES["all"], "127.0.0.1", 8000, worker_plan("1"), 1, True
    )
    workers = [c for c in children if c.name.startswith("worker-")]
    assert workers and vad_models.idle_count() == 0
    workers[0].target.prepare()
    assert vad_models.idle_count() == 1


def test_a_model_that_cannot_load_does_not_stop_up(empty_pool, monkeypatch, caplog):
    from media_pipeline.jobtypes import warm_for_workers

    def broken():
        raise OSError("libstdc++.so.6: cannot open shared object file")

    monkeypatch.setattr(vad_models, "load", broken)
    warm_for_workers()
    assert vad_models.idle_count() == 0
    assert "voice activity model could not be loaded (libstdc++.so.6" in caplog.text


def test_probabilities_are_those_of_a_fresh_model(empty_pool, speech_chunks):
    """The pool changes where a model comes from, never what it scores."""
    vad = vad_models.load()
    audio = np.concatenate(speech_chunks)
    audio = np.concatenate([audio, np.zeros(-audio.size % 512, dtype=np.float32)])
    fresh = [vad.process(memoryview(audio[i : i + 512].data)) for i in range(0, audio.size, 512)]
    vad_models.preload()
    vad_probabilities(speech_chunks)  # the pooled model used once
    assert vad_probabilities(speech_chunks) == fresh
