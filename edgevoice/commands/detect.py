"""``edgevoice detect``: run the listening front-end over a recording and print the wake words it hears.

One line per detection: ``12.34 s  okay_nabu  0.97`` (audio time, wake word, probability).
The same front-end as the daemon, noise handling included, so it is the tool for tuning
cutoffs and noise settings on recordings from the real room.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

HELP = "run the listening front-end over a WAV file and print wake words"

EX_NOINPUT = 66  # sysexits.h: an input file did not exist or was not readable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input-wav", required=True, metavar="FILE", help="recording to analyse (any WAV; converted to 16 kHz mono)")
    parser.add_argument(
        "--wake-word", action="append", metavar="NAME",
        help="built-in wake word or a model .json file; repeat for several (default: from the config, okay_nabu)",
    )
    parser.add_argument("--config", metavar="PATH", help="take the [listening] settings from this config file (default: built-in defaults)")
    parser.add_argument("--cutoff", type=float, metavar="P", help="probability cutoff for every model (default: each model's own)")
    parser.add_argument("--no-noise", action="store_true", help="switch noise suppression and auto gain off")
    parser.add_argument(
        "--events", action="store_true",
        help="also print speech start/end and, opening the gate on each wake word like the daemon, utterance ends",
    )


def _listening_config(args: argparse.Namespace):
    from edgevoice.config.listening import ListeningConfig

    if args.config:
        from edgevoice.config.load import load_config  # the config loader (edgevoice check uses it too)

        listening = load_config(args.config).listening
    else:
        listening = ListeningConfig()
    wake = listening.wake
    if args.wake_word:
        from edgevoice.config.listening import BUILTIN_WAKE_WORDS

        files = tuple(w for w in args.wake_word if w not in BUILTIN_WAKE_WORDS and w.endswith(".json"))
        words = tuple(w for w in args.wake_word if w not in files)  # unknown names: check() lists the built-in ones
        wake = dataclasses.replace(wake, words=words, model_files=files)
    if args.cutoff is not None:
        wake = dataclasses.replace(wake, probability_cutoff=args.cutoff)
    wake.check()
    noise = listening.noise
    if args.no_noise:
        noise = dataclasses.replace(noise, enabled=False)
    return dataclasses.replace(listening, wake=wake, noise=noise)


def main(args: argparse.Namespace) -> int:
    from edgevoice.audio.wav import WavError, WavSource
    from edgevoice.listening import frontend_events as ev
    from edgevoice.listening.frontend import ListeningFrontend

    listening = _listening_config(args)
    if args.cutoff is not None and not 0.0 < args.cutoff < 1.0:
        print(f"edgevoice: --cutoff {args.cutoff} is not between 0 and 1", file=sys.stderr)
        return 2
    try:
        source = WavSource(args.input_wav)
    except WavError as exc:
        print(f"edgevoice: {exc}", file=sys.stderr)
        return EX_NOINPUT
    frontend = ListeningFrontend.from_config(listening)
    if frontend.wake is None:
        print("edgevoice: no wake word to listen for (give --wake-word NAME)", file=sys.stderr)
        return 2
    out = sys.stdout
    try:
        for frame in source.frames():
            for event in frontend.process(frame):
                if isinstance(event, ev.WakeWordDetected):
                    out.write(f"{event.t:.2f} s  {event.name}  {event.probability:.2f}\n")
                    if args.events:
                        frontend.open_gate("wake")
                elif not args.events or isinstance(event, ev.UtteranceAudio):
                    continue
                elif isinstance(event, ev.LocalSpeechStarted):
                    out.write(f"{event.t:.2f} s  speech started\n")
                elif isinstance(event, ev.SpeechEnded):
                    out.write(f"{event.t:.2f} s  speech ended\n")
                elif isinstance(event, ev.UtteranceEnded):
                    out.write(f"{event.t:.2f} s  utterance ended ({event.reason})\n")
    finally:
        frontend.close()
    out.flush()
    return 0
