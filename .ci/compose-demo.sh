#!/usr/bin/env bash
# `npm run compose:demo-check`: the compose demo as a user runs it. Builds both images (the
# Dockerfile's `runtime` and `emulator` targets), makes a .env from the demo block of
# .env.example, runs `docker-compose --profile demo up`, walks the flow through the published
# ports (.ci/compose-demo-flow.mjs: sign in, /connect, the webview, /callback, /me/connections,
# the control API unreachable) and checks that every published port is bound to 127.0.0.1.
# Then tears everything down (containers, network, volume). Fails loudly when a tool is missing.
#
# Needs a running Docker engine, docker-compose and ports 3000 and 4010 of 127.0.0.1 free.
# Where no image registry is reachable, the base images are replaced by stand-ins built from
# Debian and npm packages (.ci/standin-images.sh; needs root and debootstrap).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

fail() { echo "compose demo check: $*" >&2; exit 1; }
command -v docker >/dev/null 2>&1 || fail "docker is not installed (Debian: apt-get install docker.io)"
docker info >/dev/null 2>&1 || fail "no Docker engine answers (start one: dockerd &)"
command -v docker-compose >/dev/null 2>&1 || fail "docker-compose is not installed (Debian: apt-get install docker-compose)"
for port in 3000 4010; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "port $port of 127.0.0.1 is in use"; fi
done

echo "--- base images"
for image in node:24-slim redis:7-alpine; do
  docker image inspect "$image" >/dev/null 2>&1 || timeout 120 docker pull -q "$image" >/dev/null 2>&1 || true
done
if ! docker image inspect node:24-slim >/dev/null 2>&1 || ! docker image inspect redis:7-alpine >/dev/null 2>&1; then
  echo "no registry: building stand-ins"
  bash "$root/.ci/standin-images.sh"
fi

echo "--- images (docker build --network host: the npm registry is reached as this machine reaches it)"
docker build -q --network host --target runtime -t powens-connect-bff:local "$root" >/dev/null
docker build -q --network host --target emulator -t powens-connect-bff-emulator:local "$root" >/dev/null

echo "--- the emulator's webview driver, for the flow"
# Inside the repository (.tmp/ is git-ignored): its imports resolve in node_modules.
driver="$root/.tmp/compose-demo-driver"
rm -rf "$driver"
node "$root/node_modules/typescript/bin/tsc" -p "$root/emulator/tsconfig.json" --outDir "$driver/emulator"

work="$(mktemp -d)"
project="bffdemocheck$$"
compose() { docker-compose -p "$project" --project-directory "$work" -f "$work/docker-compose.yml" --profile demo "$@"; }
cleanup() {
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$work" "$driver"
}
trap cleanup EXIT
cp "$root/docker-compose.yml" "$root/Dockerfile" "$root/.dockerignore" "$work/"
# The demo block, copied as is: the README's command.
sed -n 's/^# demo: //p' "$root/.env.example" >"$work/.env"

echo "--- docker-compose --profile demo up"
compose up -d --no-build
deadline=$((SECONDS + 120))
until [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:3000/readyz || true)" = 200 ]; do
  if [ $SECONDS -gt $deadline ]; then compose ps; compose logs --tail 50; fail "the service was not ready within 120 s"; fi
  sleep 1
done
until [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:4010/healthz || true)" = 200 ]; do
  if [ $SECONDS -gt $deadline ]; then compose logs --tail 50 emulator; fail "the emulator did not answer within 120 s"; fi
  sleep 1
done

echo "--- published ports"
published="$(docker ps --filter "label=com.docker.compose.project=$project" --format '{{.Names}} {{.Ports}}')"
echo "$published"
if echo "$published" | grep -Eq '(0\.0\.0\.0|:::)[0-9]+->'; then fail "a port is published on every interface"; fi
echo "$published" | grep -q '127.0.0.1:3000->3000/tcp' || fail "the service is not published on 127.0.0.1:3000"
echo "$published" | grep -q '127.0.0.1:4010->4010/tcp' || fail "the emulator's webview is not published on 127.0.0.1:4010"
if echo "$published" | grep -q '4011'; then fail "the emulator's control port is published"; fi

echo "--- the flow"
node "$root/.ci/compose-demo-flow.mjs" "$driver/emulator"

echo "--- healthchecks"
for service in bff redis emulator; do
  id="$(compose ps -q "$service")"
  deadline=$((SECONDS + 90))
  until [ "$(docker inspect -f '{{.State.Health.Status}}' "$id")" = healthy ]; do
    [ $SECONDS -gt $deadline ] && fail "$service is $(docker inspect -f '{{.State.Health.Status}}' "$id") after 90 s"
    sleep 2
  done
  echo "ok   $service healthy"
done
echo "--- SIGTERM: the service drains and exits 0 within its grace period (137 would be Docker's SIGKILL)"
bff_id="$(compose ps -q bff)"
compose stop bff >/dev/null 2>&1
code="$(docker inspect -f '{{.State.ExitCode}}' "$bff_id")"
[ "$code" = 0 ] || fail "the service exited $code on docker-compose stop"
docker logs "$bff_id" 2>&1 | grep -q '"msg":"stopped"' || fail "the service did not log its orderly stop"
echo "ok   bff stopped with exit code 0"
echo "compose demo check: passed"
