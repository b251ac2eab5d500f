"""Offline: how soon the cached reply plays when Voice Live cannot answer (edgevoice.bench.offline_latency),
and how soon a question is answered from the cache offline (edgevoice.bench.offline_answers).

The measurement runs in a subprocess of its own (``python -m edgevoice.bench.offline WORKDIR``,
one JSON line on stdout), so that it runs while the bench measures the front-end's CPU without
sharing an interpreter (or a CPU time count) with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edgevoice.bench.audio import BenchError
from edgevoice.bench.figures import Figure


class OfflineRun:
    """The offline measurement, started now in a subprocess; ``figures()`` waits for it."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "offline.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "edgevoice.bench.offline", str(workdir)],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)

    def figures(self, timeout: float, beside: str) -> list[Figure]:
        """Wait for the measurement; ``beside`` says what the bench measured meanwhile."""
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BenchError(f"the offline measurement did not finish within {timeout:.0f} s (log: {self.log})") \
                from None
        if self.proc.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise BenchError(f"the offline measurement failed (exit {self.proc.returncode}):\n{tail}")
        r = json.loads(out.decode().strip().splitlines()[-1])
        how = (f"the real daemon (edgevoice.bench.offline_latency, in a subprocess, while the bench measured "
               f"{beside}) on a spoken recording at real-time pace against the emulator behind a relay that "
               "goes silent (no RST, no FIN); end of the utterance (the device's endpoint, where it happened in "
               "the audio) to the cached reply's first audio handed to the speaker (a WAV recorder, so no output "
               "buffer), both on the daemon's loop clock: includes the endpoint's loop pass, the machine, the "
               "cache lookup and the wait for the next frame the speaker renders with")
        return [
            Figure("offline_known_ms", r["known_offline_ms"], "ms",
                   f"cached reply when the device already knows it is offline (the question before failed): {how}",
                   target=r["known_target_ms"], n=1),
            Figure("offline_first_failure_ms", r["unknown_offline_ms"], "ms",
                   f"cached reply at the first failure: a warm session whose network went dark, the "
                   f"{r['connect_timeout_s']:g} s connect deadline ([voicelive] connect_timeout_s) running out; {how}",
                   target=r["unknown_target_ms"], n=1),
            Figure("offline_answer_ms", r["answer_ms"], "ms",
                   "a configured [[offline.answers]] question, known offline (nothing listens on the endpoint): end "
                   "of the utterance (the device's endpoint) to the first sample of the cached answer, including the "
                   "on-device recognition (pocketsphinx, last one "
                   f"{r['answer_recognise_cpu_ms']:.0f} ms CPU) and the match; median of {len(r['answer_turns_ms'])} "
                   f"turns {r['answer_turns_ms']}; the real daemon on a spoken recording at real-time pace",
                   target=r["answer_target_ms"], n=len(r["answer_turns_ms"])),
        ]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def main(argv: list[str]) -> int:
    from edgevoice.bench.offline_answers import TARGET_MS, measure_offline_answer
    from edgevoice.bench.offline_latency import measure_offline_latency

    result = measure_offline_latency(argv[0] if argv else None)
    answers = measure_offline_answer(argv[0] if argv else None)
    print(json.dumps({
        "known_offline_ms": result.known_offline_ms,
        "unknown_offline_ms": result.unknown_offline_ms,
        "connect_timeout_s": result.connect_timeout_s,
        "known_target_ms": result.known_target_ms,
        "unknown_target_ms": result.unknown_target_ms,
        "answer_ms": answers.median_ms,
        "answer_turns_ms": answers.answer_ms,
        "answer_recognise_cpu_ms": answers.recognise_cpu_ms,
        "answer_target_ms": TARGET_MS,
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
