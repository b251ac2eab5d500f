"""``edgevoice check``: validate the config and print the session it would send, secrets hidden.

Exit status 0 when the config is usable; a bad config is exit status 78 (through edgevoice.cli).
Having no credential at all is only a warning here: the emulator demo passes its key explicitly.
Imports nothing but the config code, so it runs in well under a second on a Pi Zero.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from edgevoice.config.errors import ConfigError
from edgevoice.config.load import config_path, load_config
from edgevoice.config.secrets import HOW_TO_SET, find_credential
from edgevoice.config.voicelive import INPUT_SAMPLE_RATE
from edgevoice.voicelive.protocol.client_events import session_update

HELP = "validate the config and print the session it would send"
CHECK_EVENT_ID = "evt_check"  # a fixed id so the printed event is the same on every run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="config file (default: $EDGEVOICE_CONFIG or /etc/edgevoice/edgevoice.toml)")


def main(args: argparse.Namespace) -> int:
    path, _ = config_path(args.config, environ=os.environ)
    config = load_config(args.config, environ=os.environ)
    vl = config.voicelive
    try:
        credential = find_credential(vl, environ=os.environ)
    except ConfigError as exc:  # a key or token file named in this config: say which config
        raise ConfigError(exc.key, exc.problem, source=exc.source or str(path)) from None
    family = vl.family
    if vl.model_warning is not None:
        print(f"edgevoice: warning: {vl.model_warning}", file=sys.stderr)
    out = sys.stdout
    print(f"config:      {path} is valid", file=out)
    print(f"model:       {vl.model} ({family.name} family, {family.kind})", file=out)
    print(f"voice:       {vl.effective_voice.describe()}{'' if vl.voice else ' (the model default)'}", file=out)
    print(f"audio:       {INPUT_SAMPLE_RATE} Hz pcm16 in, {vl.effective_output_audio_format} ({vl.output_sample_rate} Hz) out", file=out)
    print(f"service:     {vl.dialect.title} ({vl.service})", file=out)
    print(f"url:         {vl.dialect.realtime_url(vl)}", file=out)
    if credential is None:
        print("credential:  none found", file=out)
        print(f"edgevoice: warning: no Voice Live credential; `edgevoice run` will stop until you {HOW_TO_SET}", file=sys.stderr)
    else:
        headers = ", ".join(f"{name}: {value}" for name, value in credential.redacted_headers().items())
        unused = [
            key for key, file in (("voicelive.api_key_file", vl.api_key_file), ("voicelive.token_file", vl.token_file))
            if file is not None and not credential.describe().endswith(str(file))
        ]
        note = f"; {' and '.join(unused)} not used" if unused else ""
        print(f"credential:  {credential.describe()} ({headers}){note}", file=out)
    print("session.update:", file=out)
    from edgevoice.tools.setup import declared_fields

    event = vl.dialect.client_event(
        session_update({**vl.dialect.session_payload(vl), **declared_fields(config)}, event_id=CHECK_EVENT_ID)
    )
    print(json.dumps(event, indent=2, ensure_ascii=False), file=out)
    return 0
