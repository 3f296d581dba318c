#!/usr/bin/env bash
# Builds the container image `sam local` runs the functions in, from Debian packages only (no
# registry pull): busybox (SAM's image build runs `mv` and `chmod` in it) and the glibc and
# libgcc libraries the bootstrap links. SAM adds its Runtime Interface Emulator on top.
#
#   tests/local-aws/base-image.sh [IMAGE]     prints the image name; builds it once per content
#
# The tag carries a hash of this script and the package versions, so a change rebuilds it.
set -euo pipefail

ARCH="$(dpkg --print-architecture)"
PACKAGES=(libc6 libgcc-s1 busybox-static)

versions=""
for p in "${PACKAGES[@]}"; do
  v="$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || apt-cache policy "$p" | awk '/Candidate:/ {print $2}')"
  versions+="$p=$v;"
done
digest="$(printf '%s\n%s' "$(cat "${BASH_SOURCE[0]}")" "$versions" | sha256sum | cut -c1-12)"
IMAGE="${1:-coursegen-lambda-base:$ARCH-$digest}"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE"
  exit 0
fi

work="$(mktemp -d -t coursegen-base-image.XXXXXX)"
trap 'rm -rf "$work"' EXIT
(
  cd "$work"
  if ! apt-get download "${PACKAGES[@]}" >download.log 2>&1; then
    apt-get update -qq >/dev/null
    apt-get download "${PACKAGES[@]}" >download.log 2>&1 || { cat download.log >&2; exit 1; }
  fi
  mkdir rootfs
  for deb in ./*.deb; do dpkg-deb -x "$deb" rootfs; done
  cd rootfs
  mkdir -p tmp var/task var/runtime opt etc proc sys dev usr/bin
  chmod 1777 tmp
  # busybox applets as symlinks (sh, mv, chmod, cp, rm, ... for SAM's image build).
  for applet in $(./bin/busybox --list); do
    [[ -e "bin/$applet" ]] || ln -s busybox "bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >etc/passwd
  echo 'root:x:0:' >etc/group
  echo 'hosts: files dns' >etc/nsswitch.conf
)
tar -C "$work/rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin' \
  --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
  --change 'WORKDIR /var/task' \
  - "$IMAGE" >/dev/null
echo "$IMAGE"
