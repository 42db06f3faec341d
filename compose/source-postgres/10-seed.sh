#!/usr/bin/env bash
# Seeds the source database on its first start (the postgres image runs *.sh in
# /docker-entrypoint-initdb.d once, against the temporary server it starts for initialisation).
# The SQL lives in seed.psql, which the image itself ignores (not *.sql), so that the connector's
# password is passed as a psql variable instead of being written into the file.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v debezium_password="${DEBEZIUM_PASSWORD:?DEBEZIUM_PASSWORD must be set}" \
  -f /docker-entrypoint-initdb.d/seed.psql
