"""``edgevoice cache warm|list``: the phrases the device says by itself when Voice Live cannot answer.

``list`` shows each configured phrase and whether it is cached in the assistant's own voice (for
the configured voice, model and output format), stale (rendered for another voice or text),
missing or corrupt; no credential is needed. ``warm`` renders what is not cached now, through a
real Voice Live session with the configured credential (``--force``: everything again). Exit
status: 0 when every phrase is cached, 1 when some are not (list) or could not be rendered (warm).
The [[offline.answers]] are listed as ``answer:ID``; with ``offline.learn``, ``list`` also shows
the learned answers with their counts, and ``forget ID`` removes one (exit 1 if there is none).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys

HELP = "render (warm) or list the cached phrases spoken when Voice Live cannot answer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("warm", "list", "forget"),
                        help="warm: render missing phrases now; list: show the cache; forget ID: remove a learned answer")
    parser.add_argument("id", nargs="?", help="forget: the learned answer's ID (as `list` shows it)")
    parser.add_argument("--config", metavar="PATH", help="config file (default: $EDGEVOICE_CONFIG or /etc/edgevoice/edgevoice.toml)")
    parser.add_argument("--force", action="store_true", help="warm: render every phrase again, even those cached")


def main(args: argparse.Namespace) -> int:
    from edgevoice.config.load import config_path, load_config
    from edgevoice.offline.cache import CacheError, PhraseCache, VoiceKey

    path, _ = config_path(args.config, environ=os.environ)
    config = load_config(args.config, environ=os.environ)
    cache = PhraseCache(config.offline.cache_dir)
    voice = VoiceKey.from_config(config.voicelive)
    print(f"config:  {path}")
    print(f"cache:   {cache.directory}")
    print(f"voice:   {voice.describe()}")
    try:
        if args.action == "forget":
            return _forget(config, voice, args.id)
        if args.action == "list":
            status = _list(cache, config.offline.spoken_texts(), voice)
            _list_learned(config, voice)
            return status
        return _warm(config, cache, voice, force=args.force, verbose=args.verbose)
    except CacheError as exc:
        print(f"edgevoice: {exc}", file=sys.stderr)
        return 1


def _list(cache, phrases, voice) -> int:
    from edgevoice.offline.cache import Status

    states = cache.states(phrases, voice)
    width = max(len(s.name) for s in states)
    for state in states:
        line = f"  {state.name:<{width}}  {state.status.value:<7}"
        if state.status is Status.CACHED and state.entry is not None:
            line += f"  {state.entry.duration_s:4.1f} s  {state.entry.rendered_at}"
        elif state.status is Status.STALE and state.entry is not None:
            was = "other text" if state.entry.text != state.text else f"{state.entry.voice}, {state.entry.model}"
            line += f"  (rendered for {was})"
        print(f"{line}  {state.text!r}")
    missing = [s for s in states if s.status is not Status.CACHED]
    fallback = "espeak-ng" if shutil.which("espeak-ng") else "a tone pattern"
    if missing:
        print(f"{len(missing)} of {len(states)} not cached in the assistant's voice: {fallback} stands in until "
              "they are rendered (`edgevoice cache warm`, or by the daemon once online)")
        return 1
    print(f"all {len(states)} phrases cached")
    return 0


def _learned(config, voice):
    from edgevoice.offline.learned import LearnedAnswers

    o = config.offline
    return LearnedAnswers(o.cache_dir, voice, max_entries=o.learn_max, min_count=o.learn_min_count)


def _list_learned(config, voice) -> None:
    learned = _learned(config, voice)
    entries = learned.entries()
    if not config.offline.learn and not entries:
        return
    print(f"learned answers ({len(entries)} of at most {learned.max_entries}; used offline once asked "
          f"{learned.min_count} times{'' if config.offline.learn else '; learning is off'}):")
    for e in entries:
        use = "used" if e.count >= learned.min_count else "not yet"
        print(f"  learned:{e.id}  asked {e.count:>3}x  {use:<7}  {e.question!r} -> {e.reply!r}")


def _forget(config, voice, ident: str | None) -> int:
    if not ident:
        print("edgevoice: forget needs the ID of a learned answer (see `edgevoice cache list`)", file=sys.stderr)
        return 2
    gone = _learned(config, voice).forget(ident)
    if gone is None:
        print(f"edgevoice: no learned answer {ident!r} (see `edgevoice cache list`)", file=sys.stderr)
        return 1
    print(f"forgot learned:{gone.id} ({gone.question!r}, asked {gone.count} times)")
    return 0


def _warm(config, cache, voice, *, force: bool, verbose: int) -> int:
    from edgevoice.config.secrets import require_credential
    from edgevoice.daemon.sessions import session_factory
    from edgevoice.offline.render import warm
    from edgevoice.service.journal import setup_logging

    redactor = setup_logging(logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING)
    credential = require_credential(config.voicelive)  # ConfigError -> exit 78 with how to set one
    for value in credential.headers().values():
        redactor.add_secret(value.removeprefix("Bearer "))
    factory = session_factory(config.voicelive, credential)
    phrases = config.offline.spoken_texts()  # the phrases and the offline answers

    def rendered(name: str, sound) -> None:
        print(f"  {name:<14} rendered  {sound.duration_ms / 1000:4.1f} s  {phrases[name]!r}", flush=True)

    report = warm(cache, phrases, voice, factory, rate=config.voicelive.output_sample_rate, force=force, on_rendered=rendered)
    for name in report.cached:
        print(f"  {name:<14} cached already")
    for name, why in report.failed.items():
        print(f"  {name:<14} FAILED: {why}")
    print(f"warm: {report}")
    if report.error:
        print(f"edgevoice: {report.error}", file=sys.stderr)
    return 0 if report.complete else 1
