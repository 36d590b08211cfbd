#!/usr/bin/env bash
# Start the local services the integration tests talk to (PostgreSQL on 127.0.0.1:5432 and
# Redis on 127.0.0.1:6379) when they are installed but not running. Safe to run repeatedly;
# a service that is not installed is reported and left to the tests to skip (or, with
# MODELYARD_REQUIRE_SERVICES=1, to fail).
set -u

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

wait_for() {  # wait_for NAME CHECK
  for _ in $(seq 1 30); do "$2" && { echo "services: $1 is up"; return 0; }; sleep 0.5; done
  echo "services: $1 did not come up" >&2; return 1
}

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
