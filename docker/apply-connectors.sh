#!/bin/sh
# One-shot service of docker-compose.yml (runs in the studentflow app image, as root):
#  1. makes the shared staging volume writable by the Kafka Connect worker, which runs as
#     `appuser` (uid 1000) in the official apache/kafka image, while a fresh named volume is
#     owned by root: without this the file sink task fails with "Permission denied";
#  2. applies every connector file in connect/connectors/ through the Connect REST API
#     (`studentflow connect apply`: validate, PUT /connectors/{name}/config, wait for RUNNING).
#     It is idempotent: an unchanged file is a no-op, so re-running this service is safe.
# ${env:...} references in the JSON files are resolved by the Connect worker itself (Kafka's
# EnvVarConfigProvider, from the `connect` service's environment in docker-compose.yml).
set -eu
staging="${STUDENTFLOW_STAGING_DIR:?STUDENTFLOW_STAGING_DIR must point at the shared staging volume}"
mkdir -p "$staging"
chown 1000:0 "$staging"
chmod 0775 "$staging"
exec studentflow connect apply "$@"
