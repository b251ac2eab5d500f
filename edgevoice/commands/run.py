"""``edgevoice run``: the assistant daemon, on a microphone and speaker or on WAV recordings."""

from __future__ import annotations

import argparse
import logging
import os
import re
import threading
from pathlib import Path

from edgevoice.config.errors import ConfigError

HELP = "run the assistant: listen, wake, talk to Voice Live, play replies"

logger = logging.getLogger("edgevoice.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="config file (default: $EDGEVOICE_CONFIG, else /etc/edgevoice/edgevoice.toml)")
    parser.add_argument("--input-wav", metavar="IN", type=Path, help="listen to this recording (at real-time pace) instead of the microphone")
    parser.add_argument("--output-wav", metavar="OUT", type=Path,
                        help="record what the speaker plays to this WAV, aligned with the input, instead of playing it")
    parser.add_argument("--events", metavar="FILE", type=Path, help="append one JSON object per milestone to FILE")
    parser.add_argument("--room-echo", metavar="DB[@DELAY_MS]", type=_echo_path,
                        help="with --input-wav: a simulated room, where the microphone also hears the speaker DB dB "
                             "quieter than played, DELAY_MS later (default 40), with a short reverberant tail; "
                             "e.g. -12@40, to try [assistant] echo_coupling_db on a recording")
    # "-12@40" is a value, not an option: let argparse take it as it takes a negative number.
    parser._negative_number_matcher = re.compile(r"^-\d+(\.\d+)?(@\d+(\.\d+)?)?$|^-\.\d+$")
    parser.add_argument("--room-noise", metavar="DBFS", type=float,
                        help="with --room-echo: add the room's noise at this level (e.g. -60)")
    parser.add_argument("--settle-timeout", metavar="S", type=float, default=60.0,
                        help="with --input-wav: longest wait for the conversation to settle after the input ends (default 60)")


def _echo_path(text: str):
    from edgevoice.audio.room import EchoPath

    try:
        return EchoPath.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(args: argparse.Namespace) -> int:
    from edgevoice.config.load import load_config
    from edgevoice.daemon.heap import tune_heap
    from edgevoice.service.journal import setup_logging

    redactor = setup_logging(logging.DEBUG if args.verbose >= 2 else logging.INFO)
    tune_heap()  # before the daemon's threads start: they share two malloc arenas
    config = load_config(args.config)  # ConfigError -> exit 78 in cli.py
    if config.voicelive.model_warning is not None:  # a model the catalog does not list, placed by its name
        logger.warning("%s", config.voicelive.model_warning)
    from edgevoice.config.secrets import ConfiguredCredential

    # No credential configured at all is a config error (exit 78); a key file that cannot be used
    # is not: a kiosk starts, shows the error (STATUS, LED, a spoken apology for every request) and
    # heals as soon as the file is fixed, without a restart (`edgevoice check` fails on it).
    credential = ConfiguredCredential(config.voicelive, on_secret=redactor.add_secret)
    problem = credential.problem()
    if problem is not None:
        logger.error("the Voice Live credential cannot be used: %s; starting anyway, in the error state, "
                     "until it is fixed", problem)
    return run(config, args, credential=credential, reload_path=args.config, on_secret=redactor.add_secret)


def run(config, args: argparse.Namespace, *, credential, reload_path: str | None, on_record=None,
        on_secret=None) -> int:
    """Build the daemon for ``config`` and run it until stopped (or the input is over)."""
    from edgevoice.audio.frames import SourceStatus
    from edgevoice.audio.microphone import Microphone
    from edgevoice.audio.wav import WavError, WavSource
    from edgevoice.config.load import load_config
    from edgevoice.config.secrets import ConfiguredCredential
    from edgevoice.daemon.control import start_control
    from edgevoice.daemon.daemon import Daemon, DaemonHooks
    from edgevoice.daemon.outputs import DaemonOutputs
    from edgevoice.daemon.sessions import session_factory
    from edgevoice.daemon.telemetry import Telemetry
    from edgevoice.playback.speaker import Speaker
    from edgevoice.playback.wav_speaker import WavSpeaker
    from edgevoice.service.notify import Notifier, StatusLine
    from edgevoice.service.signals import SignalRequests
    from edgevoice.service.watchdog import CaptureAlive, Heartbeat, Watchdog

    notifier = Notifier()
    telemetry = Telemetry(args.events)
    if on_record is not None:
        telemetry.add_listener(on_record)
    status_line, ready_sent = StatusLine(notifier.status), threading.Event()

    def on_ready() -> None:
        # systemd arms its watchdog at READY=1; the checks pass from here on (frames flow, or the
        # microphone is known to be missing and being retried).
        if ready_sent.is_set():
            return
        ready_sent.set()
        notifier.ready(status=status_line.text or None)
        loop_alive.beat()  # the loop itself calls this
        watchdog.start()

    def on_source_status(status: SourceStatus) -> None:
        capture_check.source_changed()
        if status.state == "opening":
            return  # a retry is no recovery: any fault stays shown until frames flow
        failing = not (status.ok or status.state in ("finished", "closed"))
        telemetry.mark("device", device="microphone", ok=not failing, state=status.state)
        if isinstance(speaker, Speaker):
            speaker.release_when_idle = failing  # else PortAudio would never list the microphone again
        if not failing:
            logger.info("audio input %s %s", status.state, status.detail)
            status_line.fault("microphone", None)
        else:  # the microphone logs what went wrong itself
            status_line.fault("microphone", f"{status.state} ({status.detail})")
            on_ready()  # started, and working on it: no readiness timeout and restart loop meanwhile

    def on_speaker_device(failure: str | None) -> None:  # PortAudio's output failed, or works again
        status_line.fault("speaker", None if failure is None else f"failing ({failure})")
        telemetry.mark("device", device="speaker", ok=failure is None)

    room_echo = getattr(args, "room_echo", None)
    if (room_echo is not None or getattr(args, "room_noise", None) is not None) and args.input_wav is None:
        logger.error("--room-echo and --room-noise simulate a room around a recording: give --input-wav too")
        return os.EX_USAGE
    if args.input_wav is not None:
        try:
            source = WavSource(args.input_wav, realtime=True, on_status=on_source_status)
        except WavError as exc:  # no such file, not a WAV: say so, no traceback
            logger.error("%s", exc)
            return os.EX_NOINPUT
    else:
        source = Microphone.from_config(config.audio, on_status=on_source_status)
    rate = config.voicelive.output_sample_rate
    if args.output_wav is not None:
        args.output_wav.parent.mkdir(parents=True, exist_ok=True)
        speaker = WavSpeaker(args.output_wav, rate=rate, volume=config.assistant.volume)
    else:
        speaker = Speaker(config.audio.output_device, rate=rate, volume=config.assistant.volume,
                          on_device=on_speaker_device)
    outputs = DaemonOutputs(config, telemetry).start()  # the captions page and the metrics file
    capture_alive = Heartbeat(max_age=max(2.0, config.audio.stall_timeout_s))
    loop_alive = Heartbeat(max_age=5.0)
    watchdog = Watchdog(notifier)
    capture_check = CaptureAlive(capture_alive, source)
    watchdog.add_check("capture", capture_check)
    watchdog.add_check("state machine", loop_alive)

    with SignalRequests() as requests:

        def take_reload():
            if not requests.take_reload():
                return None
            notifier.reloading()
            try:
                new = load_config(reload_path)
            except ConfigError as exc:
                logger.error("reload: the new config is not valid, keeping the old one: %s", exc)
                notifier.ready(status=f"reload failed: {exc}"[:200])
                hooks.reloaded(False, str(exc))  # the control socket: who asked gets the verdict
                return None
            notifier.ready()
            return new

        def sessions(cfg):
            if cfg == config.voicelive:
                return session_factory(cfg, credential)
            # A reloaded [voicelive] table: its credential, looked up afresh for each session too.
            return session_factory(cfg, ConfiguredCredential(cfg, on_secret=on_secret))

        hooks = DaemonHooks(
            on_status=status_line.show_state,  # the state follows READY=1 at once
            on_ready=on_ready,
            on_frame=capture_alive.beat,
            on_loop=loop_alive.beat,
            should_stop=lambda: requests.stop_requested,
            take_reload=take_reload,
        )
        daemon = Daemon(config, source=source, speaker=speaker, sessions=sessions, telemetry=telemetry, hooks=hooks,
                        finish_with_input=args.input_wav is not None, settle_timeout_s=args.settle_timeout,
                        room_echo=room_echo, room_noise_dbfs=getattr(args, "room_noise", None))
        outputs.add_costs(daemon.costs.snapshot)  # edgevoice_tokens_total, edgevoice_cost_total
        start_control(daemon, hooks, requests.request_reload, status_line.faults)  # [control]: the socket
        try:
            code = daemon.run()
        finally:
            if requests.stop_requested:
                notifier.stopping()
                logger.info("stopping on %s", requests.stop_signal or "request")
            watchdog.stop()
            speaker.close()
            outputs.close()
            telemetry.close()
    logger.info("stopped (exit %d)", code)
    return code
