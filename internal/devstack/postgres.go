package devstack

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
)

// postgresStores parses AHACC_TEMPORAL_DB (postgres://user:password@host:port/db)
// into the two SQL stores Temporal uses: db for the default store and
// db_visibility for visibility (the names docker/temporal/setup-postgres.sh uses).
func postgresStores(rawURL string) (def, vis *config.SQL, err error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, nil, fmt.Errorf("AHACC_TEMPORAL_DB: want postgres://user[:password]@host[:port]/database, got %q", redactURL(rawURL))
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5432"
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		db = "temporal"
	}
	pw, _ := u.User.Password()
	mk := func(name string) *config.SQL {
		return &config.SQL{
			PluginName:        postgresql.PluginName,
			ConnectAddr:       net.JoinHostPort(host, port),
			ConnectProtocol:   "tcp",
			User:              u.User.Username(),
			Password:          pw,
			DatabaseName:      name,
			MaxConns:          20,
			MaxIdleConns:      20,
			ConnectAttributes: map[string]string{},
		}
	}
	for k, v := range u.Query() {
		if len(v) > 0 && k != "sslmode" {
			return nil, nil, fmt.Errorf("AHACC_TEMPORAL_DB: unknown parameter %q", k)
		}
	}
	if mode := u.Query().Get("sslmode"); mode != "" && mode != "disable" {
		return nil, nil, fmt.Errorf("AHACC_TEMPORAL_DB: sslmode=%s: the dev stack connects without TLS; run a real cluster (docker/) for TLS", mode)
	}
	return mk(db), mk(db + "_visibility"), nil
}

// setUpPostgres creates the database if it is missing and brings its schema up
// to the server's version: the steps setup-postgres.sh runs with
// temporal-sql-tool, through the same package the tool is built from.
func setUpPostgres(cfg *config.SQL, schemaName string, logger log.Logger) error {
	create := *cfg
	if err := sqltool.DoCreateDatabase(&create, "postgres", logger); err != nil {
		return fmt.Errorf("create database %s: %w", cfg.DatabaseName, err)
	}
	conn, err := sqltool.NewConnection(cfg, logger)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", cfg.DatabaseName, err)
	}
	defer conn.Close()
	if err := schema.NewSetupSchemaTask(conn, &schema.SetupConfig{InitialVersion: "0.0"}, logger).Run(); err != nil {
		return fmt.Errorf("schema version tables in %s: %w", cfg.DatabaseName, err)
	}
	if err := schema.NewUpdateSchemaTask(conn, &schema.UpdateConfig{SchemaName: schemaName}, logger).Run(); err != nil {
		return fmt.Errorf("update schema %s in %s: %w", schemaName, cfg.DatabaseName, err)
	}
	return nil
}
