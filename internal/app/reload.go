package app

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ahacc/ahacc/activities"
)

// ReloadOnSIGHUP reloads the config named by env into store on every SIGHUP
// until ctx ends: the worker's next activities and the starter's next
// requests (routes, macros, require:) see the new config. An invalid config
// is rejected and logged; the current one stays. The handler is installed
// before it returns.
func ReloadOnSIGHUP(ctx context.Context, env Env, store *activities.ConfigStore, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-hup:
				reload(env, store, logger)
			case <-ctx.Done():
				return
			}
		}
	}()
}

func reload(env Env, store *activities.ConfigStore, logger *slog.Logger) {
	next, err := LoadConfig(env)
	if err != nil {
		logger.Error("config reload rejected; keeping the current config", "error", err)
		return
	}
	store.Store(next)
	logger.Info("config reloaded", "config_hash", next.ShortHash())
}
