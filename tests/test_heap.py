"""The daemon's C heap: fewer malloc arenas (glibc), checked in a fresh process through malloc_info."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edgevoice.daemon.heap import HeapSettings, c_library, tune_heap

pytestmark = pytest.mark.skipif(c_library() is None, reason="not glibc: mallopt/malloc_info are glibc's")

# Four threads alive at once, each allocating: glibc gives each its own arena unless limited.
THREADS = """
import sys, threading
from edgevoice.daemon.heap import HeapSettings, arena_count, tune_heap
print(sorted(tune_heap(HeapSettings(arena_max=int(sys.argv[1]))) if sys.argv[1] != "none" else {}))
barrier = threading.Barrier(4)
def work():
    barrier.wait()
    held = [bytearray(1000) for _ in range(200)]
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(arena_count())
"""


def run_threads(arena_max: str, **env: str) -> tuple[str, int]:
    done = subprocess.run([sys.executable, "-c", THREADS, arena_max], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", **env}, check=True)
    applied, arenas = done.stdout.split("\n")[:2]
    return applied, int(arenas)


def test_each_thread_gets_an_arena_of_its_own_by_default():
    applied, arenas = run_threads("none")
    assert applied == "[]"
    assert arenas >= 3


def test_the_limit_holds_every_thread_to_the_given_arenas():
    applied, arenas = run_threads("2")
    assert applied == "['arena_max', 'mmap_threshold']"
    assert arenas == 2


def test_glibcs_environment_variable_wins():
    applied, arenas = run_threads("2", MALLOC_ARENA_MAX="1")
    assert applied == "['mmap_threshold']"
    assert arenas == 1


def test_zero_leaves_a_setting_to_glibc():
    assert tune_heap(HeapSettings(arena_max=0, mmap_threshold=0), environ={}) == {}
