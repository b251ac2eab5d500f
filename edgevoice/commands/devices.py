"""``edgevoice devices``: the capture and playback devices, with index, name and the rates they take.

The index or a part of the name goes into ``[audio] input_device`` / ``output_device``.
"""

from __future__ import annotations

import argparse
import sys

HELP = "list capture and playback devices"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-probe", action="store_true", help="skip probing which sample rates each device accepts (faster)")


def _rates(rates: tuple[int, ...], default_rate: int) -> str:
    if not rates:
        return f"rates: not probed (default {default_rate} Hz)" if default_rate else "rates: none accepted"
    return "rates: " + ", ".join(str(r) for r in rates) + " Hz"


def format_devices(devices, probed: bool = True) -> str:
    """The listing as printed: two sections, one device per line."""
    lines = []
    for title, kind in (("Capture devices", "input"), ("Playback devices", "output")):
        lines.append(f"{title}:")
        chosen = [d for d in devices if (d.max_input_channels if kind == "input" else d.max_output_channels) > 0]
        if not chosen:
            lines.append("  (none)")
        for d in chosen:
            channels = d.max_input_channels if kind == "input" else d.max_output_channels
            rates = d.input_rates if kind == "input" else d.output_rates
            default = d.is_default_input if kind == "input" else d.is_default_output
            rate_text = _rates(rates, d.default_rate) if probed else f"rates: not probed (default {d.default_rate} Hz)"
            if probed and not rates:
                rate_text = "rates: none of the standard ones at 16-bit"
            lines.append(
                f"  {d.index:>3}  {d.name}  [{d.host_api}, {channels} ch, {rate_text}]" + ("  (default)" if default else "")
            )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from edgevoice.audio.portaudio import PortAudio

    try:
        with PortAudio() as pa:
            devices = pa.devices(probe_rates=not args.no_probe)
    except OSError as exc:
        print(f"edgevoice: cannot list sound devices: {exc}", file=sys.stderr)
        return 1
    print(format_devices(devices, probed=not args.no_probe))
    return 0
