#!/usr/bin/env bash
# Start the local services the integration tests talk to (PostgreSQL on 127.0.0.1:5432 and
# Redis on 127.0.0.1:6379) when they are installed but not running. Safe to run repeatedly;
# a service that is not installed is reported and left to the tests to skip (or, with
# MODELYARD_REQUIRE_SERVICES=1, to fail). Chromium, for the dashboard's browser tests, is
# installed with apt-get when it is missing.
set -u

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

wait_for() {  # wait_for NAME CHECK
  for _ in $(seq 1 30); do "$2" && { echo "services: $1 is up"; return 0; }; sleep 0.5; done
  echo "services: $1 did not come up" >&2; return 1
}

as_root() {  # root runs it; anyone else through sudo, never asking for a password
  if [ "$(id -u)" -eq 0 ]; then "$@"; else command -v sudo >/dev/null 2>&1 && sudo -n "$@"; fi
}

# Chromium for the dashboard's browser tests: Debian's package, driven by Playwright (which
# never downloads a browser of its own). Installed once; a machine that has it is left as is.
if [ -x /usr/bin/chromium ]; then
  echo "services: chromium is installed"
elif command -v apt-get >/dev/null 2>&1; then
  echo "services: installing chromium for the dashboard's browser tests"
  if ! { as_root apt-get update -qq \
      && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
      >/dev/null 2>&1; then
    echo "services: chromium could not be installed; the dashboard's browser tests will skip" \
      "(or fail, with MODELYARD_REQUIRE_SERVICES=1)" >&2
  fi
else
  echo "services: chromium is not installed (no apt-get); the dashboard's browser tests will skip" >&2
fi

status=0
if pg_up; then
  echo "services: postgresql is up"
elif command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  for version in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  wait_for postgresql pg_up || status=1
else
  echo "services: postgresql is not installed; its tests will skip" >&2
fi

if redis_up; then
  echo "services: redis is up"
elif command -v redis-server >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  wait_for redis redis_up || status=1
else
  echo "services: redis is not installed; its tests will skip" >&2
fi
exit $status
