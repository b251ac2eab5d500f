"""Memory: the daemon's peak resident memory over a conversation, beside the floor of its libraries,
what every daemon loads on top of that floor, and what each optional feature adds."""

from __future__ import annotations

import json
import subprocess
import sys

from edgevoice.bench.audio import BenchError
from edgevoice.bench.figures import Figure
from edgevoice.bench.runs import RunResult

ABOVE_FLOOR_MB = 10.0  # the target: the floor of the libraries plus this

#: The third-party libraries a running ``edgevoice run`` has loaded (systemd-python: sd_notify).
DAEMON_LIBRARIES = ("numpy", "soxr", "pyaudio", "webrtcvad", "webrtc_noise_gain", "pymicro_wakeword",
                    "websocket", "systemd.daemon")


# Read in each child: its own resident memory now, and its peak since the start (or the last reset).
_STATUS = """
def status(key):
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(key + ':')) / 1024
def reset_peak():  # VmHWM back to VmRSS (Linux 4.0+); where refused, the peak since the start is read
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        pass
"""

# The floor's libraries, and then what every `edgevoice run` also loads before it listens: the default
# wake word model (the TensorFlow Lite interpreter) and PortAudio started (ALSA's configuration read).
_STARTED_CHILD = _STATUS + """
import json, sys
import {libraries}
from pymicro_wakeword import MicroWakeWord, Model
floor = status('VmHWM')
model = MicroWakeWord.from_builtin(Model(sys.argv[1]))
wake = status('VmHWM')
import pyaudio
audio = pyaudio.PyAudio()
print(json.dumps({{"floor": floor, "wake": wake, "portaudio": status('VmHWM')}}))
audio.terminate()
""".format(libraries=", ".join(DAEMON_LIBRARIES))

# One optional feature in a process with the daemon's modules loaded: what it holds once in use, and
# its peak on the way (building the index, loading the recogniser's model).
_FEATURE_CHILD = _STATUS + """
import json, sys, tempfile
from pathlib import Path
import edgevoice.commands.run, edgevoice.daemon.daemon, edgevoice.daemon.outputs
feature = sys.argv[1]
before = status('VmRSS')
reset_peak()
if feature == "knowledge":
    from edgevoice.bench.knowledge import write_folder
    from edgevoice.tools.device import open_knowledge
    from edgevoice.config.tools import KnowledgeConfig
    from edgevoice.tools.builtin import search_knowledge_tool
    tmp = Path(tempfile.mkdtemp(prefix="edgevoice-knowledge-rss-"))
    write_folder(tmp / "k", int(sys.argv[2]))
    config = KnowledgeConfig(paths=(tmp / "k",), index_dir=tmp / "state")
    index = open_knowledge(config)
    tool = search_knowledge_tool(index, config)
    for query in ("when does the cafe open", "ticket price for a student", "where is the cloakroom"):
        tool.run({"query": query})
else:
    from edgevoice.offline.recogniser import QuestionRecogniser
    recogniser = QuestionRecogniser(sys.argv[2:])
    recogniser.recognise(bytes(32000))  # a second of silence: the decoder's buffers in use
print(json.dumps({"before": before, "held": status('VmRSS'), "peak": status('VmHWM')}))
"""

KNOWLEDGE_PASSAGES = 1000
RECOGNISER_QUESTIONS = ("what time do you open", "where is the cloakroom", "how much is a ticket")


def _child(code: str, *argv: str, what: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", code, *argv], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=180)
    if done.returncode != 0:
        raise BenchError(f"{what} failed (exit {done.returncode}): {done.stderr[-1000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def floor_mb() -> float:
    """Peak resident memory of a Python process that only imports the daemon's libraries.

    The process reads its own VmHWM (``wait4``'s ru_maxrss would include the bench it was forked from).
    """
    code = ("import " + ", ".join(DAEMON_LIBRARIES) + "\n"
            "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))")
    done = subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise BenchError(f"importing the daemon's libraries failed (exit {done.returncode}): {done.stderr[-1000:]}")
    return int(done.stdout.split()[-1]) / 1024


def figures(runs: list[RunResult], floor: float) -> list[Figure]:
    """The largest peak of the daemon runs, and the floor beside it."""
    peak = max(runs, key=lambda r: r.peak_rss_kb)
    others = ", ".join(f"{r.plan.name} {r.peak_rss_kb / 1024:.1f}" for r in runs)
    turns = sum(1 for r in [peak] for e in r.events if e["event"] == "commit")
    device = [r.plan.name for r in runs if r.plan.capture == "alsa"]
    portaudio = (f"run{'s' if len(device) > 1 else ''} {', '.join(repr(n) for n in device)} capture and play "
                 f"through PortAudio (started, with its ALSA devices open); the others use WAV files"
                 if device else "no run started PortAudio (WAV files only)")
    return [
        Figure("rss_mb", peak.peak_rss_kb / 1024, "MB",
               f"peak resident memory (VmHWM, read from /proc every 0.1 s) of the `edgevoice run` process over a "
               f"{turns}-turn conversation against the emulator (the largest of the runs, '{peak.plan.name}'; "
               f"all runs in MB: {others}; {portaudio}); target: rss_floor_mb + {ABOVE_FLOOR_MB:g} MB",
               target=floor + ABOVE_FLOOR_MB),
        Figure("rss_floor_mb", floor, "MB",
               "peak resident memory of a Python process that only imports the daemon's libraries ("
               + ", ".join(DAEMON_LIBRARIES) + "): what no daemon can go below"),
    ]


def started_figures(wake_word: str = "okay_nabu") -> list[Figure]:
    """``rss_started_floor_mb``: the floor plus what every daemon loads before it listens (no target)."""
    got = _child(_STARTED_CHILD, wake_word, what="the started floor's measurement")
    return [Figure("rss_started_floor_mb", got["portaudio"], "MB",
                   f"peak resident memory of a process that imports the daemon's libraries ({got['floor']:.1f} MB), "
                   f"then loads the wake word model '{wake_word}' (+{got['wake'] - got['floor']:.1f} MB) and starts "
                   f"PortAudio (PyAudio(), no stream open: +{got['portaudio'] - got['wake']:.1f} MB), as every "
                   f"`edgevoice run` does; rss_floor_mb leaves these out")]


def feature_figures() -> list[Figure]:
    """``knowledge_rss_mb``, ``offline_recogniser_rss_mb``: what each optional feature adds to the daemon's modules."""
    knowledge = _child(_FEATURE_CHILD, "knowledge", str(KNOWLEDGE_PASSAGES), what="the knowledge memory measurement")
    recogniser = _child(_FEATURE_CHILD, "recogniser", *RECOGNISER_QUESTIONS,
                        what="the offline recogniser memory measurement")
    return [
        Figure("knowledge_rss_mb", knowledge["held"] - knowledge["before"], "MB",
               f"resident memory the knowledge index adds (SQLite and the index modules imported, "
               f"{KNOWLEDGE_PASSAGES:,} passages indexed from scratch, three searches) to a process with the daemon's "
               f"modules loaded ({knowledge['before']:.1f} MB); at its peak, while built, "
               f"+{knowledge['peak'] - knowledge['before']:.1f} MB"),
        Figure("offline_recogniser_rss_mb", recogniser["held"] - recogniser["before"], "MB",
               f"resident memory the offline recogniser adds (pocketsphinx and its English model loaded for "
               f"{len(RECOGNISER_QUESTIONS)} questions, one second decoded) to a process with the daemon's modules "
               f"loaded ({recogniser['before']:.1f} MB); at its peak, while loading, "
               f"+{recogniser['peak'] - recogniser['before']:.1f} MB; loaded only while the device is offline"),
    ]
