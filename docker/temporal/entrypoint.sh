#!/bin/sh
# Starts one Temporal service (frontend, history, matching or worker) from the server
# built from ahacc's go.mod, configured only by the environment variables of the
# server's embedded config template (the ones internal/cluster sets in make test-cluster).
# In a container the service binds 0.0.0.0; the other services reach it at this
# container's own address, which ringpop must broadcast.
set -eu
: "${SERVICES:?SERVICES must name the Temporal service to start (frontend, history, matching or worker)}"
if [ -z "${TEMPORAL_BROADCAST_ADDRESS:-}" ]; then
	TEMPORAL_BROADCAST_ADDRESS=$(hostname -i | cut -d' ' -f1)
	export TEMPORAL_BROADCAST_ADDRESS
fi
exec /usr/local/bin/temporal-server --allow-no-auth start --service "$SERVICES"
