#!/usr/bin/env bash
# Make sure PostgreSQL answers on 127.0.0.1:5432 with trust auth and a database named "test".
# Uses what is running; otherwise installs Debian's postgresql and starts its cluster.
set -uo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! command -v pg_isready >/dev/null || ! ready; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "ci: installing PostgreSQL from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q "channelgate-ci" "$hba" 2>/dev/null; then
    { echo "# channelgate-ci: trust loopback for the test suite"
      echo "host all all 127.0.0.1/32 trust"
      echo "host all all ::1/128 trust"
      cat "$hba"; } > "$hba.new" && mv "$hba.new" "$hba"
  fi
  echo "ci: starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || pg_ctlcluster "$version" main start || true
  for _ in $(seq 1 30); do ready && break; sleep 1; done
fi

if ready; then
  psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" >/dev/null 2>&1 \
    || su postgres -c "createdb test" 2>/dev/null || true
  echo "ci: PostgreSQL is ready on 127.0.0.1:5432"
else
  echo "ci: WARNING: PostgreSQL could not be started; its tests will be skipped"
fi
exit 0
