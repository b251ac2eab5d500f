"""``edgevoice install-service``: install edgevoice as a hardened systemd service, idempotently."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgevoice.service.install import (
    DEFAULT_CONFIG_DIR,
    DEFAULT_PREFIX,
    DEFAULT_PYTHON,
    DEFAULT_UNIT_DIR,
    InstallError,
    Installer,
    InstallOptions,
)

HELP = "install the systemd service: packages, venv, config, API key credential, unit, enable"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="show every step and what it would do; change nothing")
    parser.add_argument("--prefix", type=Path, default=DEFAULT_PREFIX, help="where the venv goes (default: %(default)s)")
    parser.add_argument(
        "--config-dir", type=Path, default=DEFAULT_CONFIG_DIR, help="config and credential directory (default: %(default)s)"
    )
    parser.add_argument(
        "--unit-dir", type=Path, default=DEFAULT_UNIT_DIR, help="where the unit file goes (default: %(default)s)"
    )
    parser.add_argument(
        "--python", type=Path, default=DEFAULT_PYTHON, help="Python (>= 3.11) that creates the venv (default: %(default)s)"
    )
    parser.add_argument(
        "--source", help="what to pip install (default: this source tree, or edgevoice from PyPI at this version)"
    )
    parser.add_argument(
        "--example-config", type=Path, help="config to copy when the config file does not exist yet"
    )
    parser.add_argument(
        "--api-key-file", type=Path,
        help="file holding the Azure Voice Live API key (default: $AZURE_VOICELIVE_API_KEY, else ask)",
    )
    parser.add_argument("--no-start", action="store_true", help="enable the service but do not start it")


def options_from(args: argparse.Namespace) -> InstallOptions:
    """The install options an ``install-service`` command line asks for."""
    return InstallOptions(
        prefix=args.prefix.absolute(),
        config_dir=args.config_dir.absolute(),
        unit_dir=args.unit_dir.absolute(),
        python=args.python,
        source=args.source,
        example_config=args.example_config,
        api_key_file=args.api_key_file,
        start=not args.no_start,
        interactive=sys.stdin.isatty(),
    )


def main(args: argparse.Namespace) -> int:
    installer = Installer(options_from(args))
    if args.dry_run:
        print("edgevoice install-service --dry-run: nothing is changed")
        ok = installer.report()
        return 0 if ok else 1
    try:
        installer.run()
    except InstallError as exc:
        print(f"edgevoice install-service: {exc}", file=sys.stderr)
        return 1
    for note in installer.notes:
        print(f"next: {note}")
    print("edgevoice is installed" + (" and running: journalctl -u edgevoice -f" if installer.started else ""))
    return 0
