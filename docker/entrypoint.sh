#!/bin/sh
# Container entrypoint: migrate the database (DATABASE_URL) to the latest revision, then run the command
# (by default gunicorn; e.g. `docker compose run --rm api flask seed-db --force` also works).
# With several replicas, migrate once from a release step and set SHOPWRIGHT_SKIP_MIGRATIONS=1 on the rest.
set -eu

if [ "${SHOPWRIGHT_SKIP_MIGRATIONS:-0}" != "1" ]; then
  flask db upgrade
fi

exec "$@"
