"""The daemon's capture thread and its table of action handlers, on their own."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import pytest

from edgevoice.assistant import actions as A
from edgevoice.audio.frames import FRAME_BYTES, FRAME_SECONDS, SourceStatus
from edgevoice.audio.wav import WavSource, write_wav
from edgevoice.daemon.capture import INPUT_OVER, MAX_BACKLOG_FRAMES, Block, Capture
from edgevoice.daemon.execute import HANDLERS, execute


class Chunks:
    """A source that delivers frames in device-sized chunks, like the microphone (``blocks()``)."""

    status = SourceStatus("listening")

    def __init__(self, chunks: int, per_chunk: int) -> None:
        self.chunks, self.per_chunk = chunks, per_chunk

    def blocks(self, _block_frames: int = 0) -> Iterator[list[bytes]]:
        for c in range(self.chunks):
            yield [bytes([c, i]) + bytes(FRAME_BYTES - 2) for i in range(self.per_chunk)]

    def frames(self) -> Iterator[bytes]:
        for block in self.blocks():
            yield from block

    def close(self) -> None:
        pass


def drain(q: queue.SimpleQueue) -> list[object]:
    out = []
    while not q.empty():
        out.append(q.get()[0])
    return out


def test_a_source_that_delivers_chunks_reaches_the_loop_as_one_block_per_chunk():
    q: queue.SimpleQueue = queue.SimpleQueue()
    capture = Capture(Chunks(5, 2), lambda item, at: q.put((item, at)), clock=lambda: 7.0)
    capture.run()
    items = drain(q)
    assert items[-1] is INPUT_OVER
    blocks = items[:-1]
    assert len(blocks) == 5 and all(isinstance(b, Block) and len(b.frames) == 2 for b in blocks)
    assert [b.frames[1][:2] for b in blocks] == [bytes([c, 1]) for c in range(5)]
    # The last frame of a block was captured when it arrived; the one before, a frame earlier.
    assert [at for _, at in blocks[0].frame_times()] == [7.0 - FRAME_SECONDS, 7.0]


def test_a_recording_is_read_in_blocks_of_buffer_ms(tmp_path):
    path = tmp_path / "a.wav"
    write_wav(path, bytes(FRAME_BYTES * 7))
    q: queue.SimpleQueue = queue.SimpleQueue()
    Capture(WavSource(path), lambda item, at: q.put((item, at)), clock=lambda: 0.0, block_frames=2).run()
    items = drain(q)
    assert [len(b.frames) for b in items[:-1]] == [2, 2, 2, 1] and items[-1] is INPUT_OVER


def test_a_loop_that_falls_behind_loses_whole_blocks_beyond_the_backlog(caplog):
    q: queue.SimpleQueue = queue.SimpleQueue()
    Capture(Chunks(MAX_BACKLOG_FRAMES, 2), lambda item, at: q.put((item, at)), clock=lambda: 0.0).run()
    blocks = drain(q)[:-1]
    assert sum(len(b.frames) for b in blocks) == MAX_BACKLOG_FRAMES  # nobody took any: the rest was dropped
    assert any("fell 3.0 s behind" in r.getMessage() for r in caplog.records)


def test_after_a_recording_a_quiet_room_goes_on_in_blocks_until_stopped():
    q: queue.SimpleQueue = queue.SimpleQueue()
    seen = threading.Event()
    blocks: list[Block] = []

    def post(item: object, at: float) -> None:
        if isinstance(item, Block) and item.frames[0] == bytes(FRAME_BYTES):
            blocks.append(item)
            if len(blocks) == 3:
                seen.set()

    capture = Capture(Chunks(1, 2), post, clock=lambda: 0.0, block_frames=2, finish_with_input=True)
    capture.start()
    assert seen.wait(10)
    capture.stop()
    assert all(len(b.frames) == 2 for b in blocks)


def test_every_action_the_machine_can_return_has_a_handler():
    actions = {cls for cls in vars(A).values() if isinstance(cls, type) and issubclass(cls, A.Action)} - {A.Action}
    assert actions and actions == set(HANDLERS)


def test_an_action_without_a_handler_is_an_error_not_ignored():
    class Unwired(A.Action):
        pass

    with pytest.raises(TypeError, match="no handler for the action Unwired"):
        execute(object(), [Unwired()], 0.0)  # type: ignore[arg-type]
