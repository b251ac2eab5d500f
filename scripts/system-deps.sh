#!/usr/bin/env bash
# Install the Debian / Raspberry Pi OS packages edgevoice needs to build, test and run.
# As root: installs what is missing. Otherwise: prints the exact apt-get line and fails.
# Usage: scripts/system-deps.sh [runtime|test]
set -euo pipefail
kind="${1:-test}"

# PyAudio and systemd-python build from source on Linux; espeak-ng speaks the demo, the
# emulator's replies and the cached-reply fallback.
runtime=(portaudio19-dev libsystemd-dev pkg-config gcc espeak-ng)
# systemd gives systemd-analyze for the unit checks; alsa-utils gives aplay/arecord for debugging;
# flite, festival (with two voices) and sox speak and shape the accuracy corpus's other voices;
# chromium (headless, over the DevTools protocol) is the real browser of the captions page's test.
test_only=(systemd alsa-utils flite festival festvox-us-slt-hts festvox-kallpc16k sox chromium)

want=("${runtime[@]}")
[[ "$kind" == test ]] && want+=("${test_only[@]}")

# The Python headers and venv module come with Debian's python3-dev/python3-venv; a Python built
# elsewhere (pyenv, deadsnakes) carries its own, so only ask apt for them when they are missing.
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then want+=(python3-venv); fi
if ! "$PYTHON" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  want+=(python3-dev)
fi

missing=()
for pkg in "${want[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "edgevoice needs these system packages first:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
