#!/bin/sh
# Creates (if absent) and updates Temporal's two PostgreSQL databases with Temporal's own
# schema tool, temporal-sql-tool, whose schemas are built in (--schema-name). Idempotent:
# run it before every server start, and after upgrading the server to apply new versions.
#
#   POSTGRES_SEEDS=127.0.0.1 POSTGRES_USER=postgres sh setup-postgres.sh
#
# The variable names are the Temporal server's own (its config template reads the same
# ones), so one environment serves both. This script is the one schema path: `make
# test-cluster` runs it with the temporal-sql-tool built from the pinned go.mod, and
# docker/compose.yaml runs it in the temporalio/admin-tools image of the same version.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS must be set (the PostgreSQL host)}"
: "${POSTGRES_USER:?POSTGRES_USER must be set}"
: "${POSTGRES_PWD:=}"
: "${DB_PORT:=5432}"
: "${DBNAME:=temporal}"
: "${VISIBILITY_DBNAME:=temporal_visibility}"
: "${SQL_PLUGIN:=postgres12}"
: "${TEMPORAL_SQL_TOOL:=temporal-sql-tool}"
: "${MAX_ATTEMPTS:=60}"

tool() {
	db=$1
	shift
	"$TEMPORAL_SQL_TOOL" --plugin "$SQL_PLUGIN" --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
		-u "$POSTGRES_USER" --pw "$POSTGRES_PWD" --db "$db" "$@"
}

for pair in "$DBNAME:postgresql/v12/temporal" "$VISIBILITY_DBNAME:postgresql/v12/visibility"; do
	db=${pair%%:*}
	schema=${pair#*:}
	# create-database leaves an existing database alone; it fails while PostgreSQL
	# does not answer yet (try again, up to MAX_ATTEMPTS seconds).
	attempt=1
	until out=$(tool "$db" create-database 2>&1); do
		if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
			printf '%s\n' "$out" >&2
			echo "database $db: PostgreSQL at $POSTGRES_SEEDS:$DB_PORT did not take create-database after $attempt attempts" >&2
			exit 1
		fi
		attempt=$((attempt + 1))
		sleep 1
	done
	# setup-schema -v 0.0 only creates the version tables when they are missing;
	# update-schema then applies every versioned step above the recorded version.
	# The tool logs every statement: keep its words for a failure only.
	if ! out=$(tool "$db" setup-schema -v 0.0 2>&1 && tool "$db" update-schema --schema-name "$schema" 2>&1); then
		printf '%s\n' "$out" >&2
		echo "database $db: schema $schema could not be applied" >&2
		exit 1
	fi
	echo "database $db: schema $schema up to date"
done
