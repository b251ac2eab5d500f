#!/usr/bin/env bash
# Repeat "a new user on a fresh machine" by hand: build a minimal Debian 12 (debootstrap minbase,
# plus git, make, python3 and ca-certificates), copy this checkout to /root/edgevoice inside it,
# and run `make test` and `make demo` there as root with a clean environment.
# With --arch arm64 (or armhf) the same runs under qemu-user-static.
#
# Usage: sudo scripts/fresh-check.sh [options]
#   --arch ARCH            amd64 (default: this machine), arm64 or armhf; a foreign one runs under qemu
#   --dir DIR              where the chroot lives (default /var/tmp/edgevoice-fresh-ARCH); kept for reuse
#   --new                  remove DIR first and bootstrap from scratch
#   --mirror URL           Debian mirror (default http://deb.debian.org/debian)
#   --ca-bundle FILE       a PEM bundle of extra CAs (an HTTPS proxy's), trusted by apt and pip inside
#   --pip-index-url URL    pip's index inside the chroot (written to its /etc/pip.conf)
#   --pip-extra-index-url URL
#   --tests "ARGS"         pytest arguments for `make test` (default: the whole suite; for a
#                          foreign arch the default is the subset in ARM_TESTS below)
#   --no-test | --no-demo  skip one of the two
# Not part of CI: it needs root, a few hundred MB of disk and the Debian mirror.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
arch=$(dpkg --print-architecture)
dir=""
fresh=0
mirror=http://deb.debian.org/debian
ca_bundle=""
pip_index=""
pip_extra=""
tests=""
do_test=1
do_demo=1
# Under emulation the whole suite takes hours; these cover the native builds (PyAudio through
# ALSA, webrtcvad, the wake-word models, systemd-python) and one real conversation turn.
ARM_TESTS="tests/test_listening_wake.py tests/test_listening_frontend.py tests/test_audio_microphone.py tests/test_playback_speaker.py tests/test_service_notify.py tests/test_service_unit.py tests/test_config_check.py tests/test_protocol_parser.py tests/test_session_emulator.py"

die() { echo "fresh-check: $*" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --arch) arch="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --new) fresh=1; shift ;;
    --mirror) mirror="$2"; shift 2 ;;
    --ca-bundle) ca_bundle=$(realpath "$2"); shift 2 ;;
    --pip-index-url) pip_index="$2"; shift 2 ;;
    --pip-extra-index-url) pip_extra="$2"; shift 2 ;;
    --tests) tests="$2"; shift 2 ;;
    --no-test) do_test=0; shift ;;
    --no-demo) do_demo=0; shift ;;
    -h|--help) sed -n "2,17p" "$0" | cut -c3-; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap and chroot need it)"
[[ -z "$ca_bundle" || -r "$ca_bundle" ]] || die "--ca-bundle $ca_bundle is not readable"
dir="${dir:-/var/tmp/edgevoice-fresh-$arch}"
native=$(dpkg --print-architecture)

need=(debootstrap)
if [[ "$arch" != "$native" ]]; then
  need+=(qemu-user-static binfmt-support)
  [[ -z "$tests" ]] && tests="$ARM_TESTS"
fi
missing=()
for pkg in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "fresh-check: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# A foreign architecture runs through qemu-user-static's binfmt_misc entry (kept open with the F
# flag, so nothing needs copying into the chroot); a container may have it unmounted or disabled.
if [[ "$arch" != "$native" ]]; then
  case "$arch" in arm64) qarch=aarch64 ;; armhf|armel) qarch=arm ;; *) qarch="$arch" ;; esac
  if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc for qemu"
  fi
  [[ -e "/proc/sys/fs/binfmt_misc/qemu-$qarch" ]] || update-binfmts --enable "qemu-$qarch" \
    || die "cannot enable qemu-$qarch in binfmt_misc"
fi

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() { mount "$@"; mounted+=("${@: -1}"); }

((fresh)) && rm -rf "$dir"
if [[ ! -x "$dir/usr/bin/make" ]]; then
  rm -rf "$dir"
  echo "fresh-check: debootstrap bookworm ($arch, minbase) into $dir"
  debootstrap --arch="$arch" --variant=minbase --include=git,make,python3,ca-certificates \
    bookworm "$dir" "$mirror"
fi

# Network settings the user chose, and nothing else of this machine's.
cp /etc/resolv.conf "$dir/etc/resolv.conf"
if [[ -n "$ca_bundle" ]]; then
  cp "$ca_bundle" "$dir/usr/local/share/ca-certificates/fresh-check-extra.crt"
  chroot "$dir" update-ca-certificates >/dev/null
fi
{
  echo "[global]"
  [[ -n "$ca_bundle" ]] && echo "cert = /etc/ssl/certs/ca-certificates.crt"
  [[ -n "$pip_index" ]] && echo "index-url = $pip_index"
  [[ -n "$pip_extra" ]] && echo "extra-index-url = $pip_extra"
  true
} > "$dir/etc/pip.conf"

# The checkout as it is now (tracked and untracked files, not what git ignores), under /root.
rm -rf "$dir/root/edgevoice"
mkdir -p "$dir/root/edgevoice"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [[ -e "$f" || -L "$f" ]] && printf '%s\0' "$f"; done | tar --null -T - -cf -) | tar -xf - -C "$dir/root/edgevoice"
chmod 700 "$dir/root"
if [[ -d "$repo/../shared" ]]; then
  rm -rf "$dir/root/shared"; cp -r "$repo/../shared" "$dir/root/shared"
fi

bind -t proc proc "$dir/proc"
bind -t sysfs sys "$dir/sys"
bind --bind /dev "$dir/dev"
bind -t devpts devpts "$dir/dev/pts"
bind -t tmpfs tmpfs "$dir/dev/shm"
bind -t tmpfs tmpfs "$dir/run"

steps=()
((do_test)) && steps+=("make test PYTEST_ARGS='$tests'")
((do_demo)) && steps+=("make demo")
((${#steps[@]})) || die "nothing to do (--no-test and --no-demo)"
script="cd /root/edgevoice"
for s in "${steps[@]}"; do script+=" && echo '+ $s' && $s"; done

echo "fresh-check: running in $dir ($arch): ${steps[*]}"
start=$(date +%s)
status=0
env -i HOME=/root USER=root LOGNAME=root TERM=dumb LANG=C.UTF-8 \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  chroot "$dir" /bin/bash -c "$script" || status=$?
echo "fresh-check: $arch: exit $status after $(( $(date +%s) - start )) s"
exit "$status"
