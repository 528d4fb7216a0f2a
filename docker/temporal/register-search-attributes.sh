#!/bin/sh
# Registers ahacc's custom search attributes (all Keyword) in one Temporal namespace.
# Idempotent: attributes that already exist are left alone, so it is safe on every
# `docker compose up` and safe to run by hand against any cluster:
#
#   TEMPORAL_ADDRESS=host:7233 TEMPORAL_NAMESPACE=default sh register-search-attributes.sh
#
# Needs the `temporal` CLI (temporalio/admin-tools image has it). Exits non-zero if
# the server never answers or an attribute could not be created.
set -eu

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS must be set (host:port of the Temporal frontend)}"
: "${TEMPORAL_NAMESPACE:=default}"
: "${AHACC_SEARCH_ATTRIBUTES:=AhaReference AhaRecordType CentercodeFeedbackID SyncState Macro ConfigHash}"
: "${MAX_ATTEMPTS:=60}"
: "${SLEEP_SECONDS:=2}"

attempt=1
until temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
	if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
		echo "namespace $TEMPORAL_NAMESPACE not reachable at $TEMPORAL_ADDRESS after $attempt attempts" >&2
		exit 1
	fi
	echo "waiting for namespace $TEMPORAL_NAMESPACE at $TEMPORAL_ADDRESS (attempt $attempt/$MAX_ATTEMPTS)"
	attempt=$((attempt + 1))
	sleep "$SLEEP_SECONDS"
done

for name in $AHACC_SEARCH_ATTRIBUTES; do
	attempt=1
	while :; do
		existing=$(temporal operator search-attribute list --namespace "$TEMPORAL_NAMESPACE" --address "$TEMPORAL_ADDRESS" 2>/dev/null) || existing=""
		if printf '%s\n' "$existing" | grep -qw -- "$name"; then
			echo "search attribute $name: present"
			break
		fi
		if temporal operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" --address "$TEMPORAL_ADDRESS" --name "$name" --type Keyword; then
			echo "search attribute $name: created (Keyword)"
			break
		fi
		if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
			echo "search attribute $name: could not be created after $attempt attempts" >&2
			exit 1
		fi
		attempt=$((attempt + 1))
		sleep "$SLEEP_SECONDS"
	done
done
echo "search attributes registered in namespace $TEMPORAL_NAMESPACE"
