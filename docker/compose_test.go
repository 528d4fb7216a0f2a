package docker

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadCompose loads the compose files the way `docker compose` does, with the
// variables of .env.example (and overrides) instead of the process environment.
func loadCompose(t *testing.T, env map[string]string, files ...string) (*types.Project, error) {
	t.Helper()
	if len(files) == 0 {
		files = []string{"compose.yaml"}
	}
	wd, err := filepath.Abs(".")
	require.NoError(t, err)
	kv := make([]string, 0, len(env))
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	opts, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(wd),
		cli.WithEnv(kv),
		cli.WithResolvedPaths(true),
	)
	require.NoError(t, err)
	return opts.LoadProject(context.Background())
}

func exampleEnv(t *testing.T) map[string]string {
	t.Helper()
	return readEnvFile(t, ".env.example")
}

func mustLoad(t *testing.T, files ...string) *types.Project {
	t.Helper()
	p, err := loadCompose(t, exampleEnv(t), files...)
	require.NoError(t, err)
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	require.Truef(t, ok, "service %q missing from compose.yaml", name)
	return s
}

func envOf(t *testing.T, s types.ServiceConfig) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func TestComposeServices(t *testing.T) {
	p := mustLoad(t)
	assert.Equal(t, "ahacc", p.Name)
	want := []string{"postgresql", "temporal-schema", "temporal", "temporal-history", "temporal-matching", "temporal-worker",
		"temporal-setup", "temporal-ui", "redis", "worker", "starter"}
	got := p.ServiceNames()
	slices.Sort(want)
	slices.Sort(got)
	assert.Equal(t, want, got)
	for _, name := range got {
		assert.Emptyf(t, p.Services[name].ContainerName, "%s: container_name blocks --scale and clashes between projects", name)
	}
}

func TestComposePorts(t *testing.T) {
	p := mustLoad(t)
	tests := []struct {
		service   string
		target    uint32
		published string
		hostIP    string // "" = all interfaces
	}{
		{"starter", 8080, "8080", ""},
		{"temporal", 7233, "7233", "127.0.0.1"},
		{"temporal-ui", 8080, "8233", "127.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.service, func(t *testing.T) {
			ports := service(t, p, tc.service).Ports
			require.Len(t, ports, 1)
			assert.Equal(t, tc.target, ports[0].Target)
			assert.Equal(t, tc.published, ports[0].Published)
			assert.Equal(t, tc.hostIP, ports[0].HostIP)
		})
	}
	// Only those three reach the host; PostgreSQL, Redis, workers and Temporal's
	// internal services stay internal.
	for _, name := range []string{"postgresql", "redis", "worker", "temporal-schema", "temporal-history", "temporal-matching", "temporal-worker", "temporal-setup"} {
		assert.Emptyf(t, service(t, p, name).Ports, "%s must not publish a host port", name)
	}
}

func TestComposeWorkerIsScalable(t *testing.T) {
	p := mustLoad(t)
	w := service(t, p, "worker")
	assert.Empty(t, w.ContainerName, "container_name makes --scale worker=N fail")
	assert.Empty(t, w.Ports, "a published host port makes --scale worker=N fail")
	assert.Nil(t, w.Deploy, "deploy.replicas would fight --scale")
	require.NotNil(t, w.StopGracePeriod)
	assert.GreaterOrEqual(t, int64(*w.StopGracePeriod), int64(30e9), "workers need time to finish running activities on SIGTERM")
}

func TestComposeBuildTargets(t *testing.T) {
	p := mustLoad(t)
	root := repoRoot(t)
	stages := parseDockerfile(t, "Dockerfile").stageNames()
	for _, name := range []string{"worker", "starter"} {
		t.Run(name, func(t *testing.T) {
			s := service(t, p, name)
			require.NotNil(t, s.Build)
			assert.Equal(t, root, s.Build.Context, "build context is the repository root")
			assert.Equal(t, "docker/Dockerfile", s.Build.Dockerfile)
			assert.Equal(t, name, s.Build.Target)
			assert.Contains(t, stages, s.Build.Target, "compose builds a target the Dockerfile defines")
			assert.Equal(t, "ahacc/"+name+":dev", s.Image)
		})
	}
}

func TestComposeEnvWiring(t *testing.T) {
	p := mustLoad(t)
	example := exampleEnv(t)
	root := repoRoot(t)

	for _, svc := range []string{"worker", "starter"} {
		t.Run(svc, func(t *testing.T) {
			s := service(t, p, svc)
			env := envOf(t, s)
			for _, v := range appEnv {
				needed := (svc == "worker" && v.worker) || (svc == "starter" && v.starter)
				if !needed {
					assert.NotContainsf(t, env, v.name, "%s does not need %s", svc, v.name)
					continue
				}
				require.Containsf(t, env, v.name, "%s needs %s", svc, v.name)
				if !v.optional {
					assert.NotEmptyf(t, env[v.name], "%s: %s is empty", svc, v.name)
				}
				if ex, ok := example[v.name]; ok {
					assert.Equalf(t, ex, env[v.name], "%s: %s must come from docker/.env", svc, v.name)
				}
			}

			// Temporal and Redis are reached through their compose service names.
			assert.Equal(t, "temporal:7233", env["TEMPORAL_ADDRESS"])
			host, port, err := net.SplitHostPort(env["TEMPORAL_ADDRESS"])
			require.NoError(t, err)
			assert.Contains(t, p.ServiceNames(), host)
			assert.Equal(t, "7233", port)
			assert.Equal(t, "redis://redis:6379/0", env["REDIS_URL"])
			u, err := url.Parse(env["REDIS_URL"])
			require.NoError(t, err)
			assert.Equal(t, "redis", u.Scheme)
			assert.Contains(t, p.ServiceNames(), u.Hostname())
			assert.Equal(t, "default", env["TEMPORAL_NAMESPACE"])
			assert.Equal(t, "ahacc", env["AHACC_TASK_QUEUE"])

			// AHACC_CONFIG names the file the bind mount provides, and the mount's
			// source is the repository's example config.
			assert.Equal(t, "/etc/ahacc/ahacc.yaml", env["AHACC_CONFIG"])
			var mount *types.ServiceVolumeConfig
			for i := range s.Volumes {
				if s.Volumes[i].Target == env["AHACC_CONFIG"] {
					mount = &s.Volumes[i]
				}
			}
			require.NotNil(t, mount, "no volume mounted at AHACC_CONFIG")
			assert.Equal(t, types.VolumeTypeBind, mount.Type)
			assert.True(t, mount.ReadOnly)
			assert.Equal(t, filepath.Join(root, "examples", "ahacc.yaml"), mount.Source)
		})
	}

	// The drain deadline ends before compose sends SIGKILL.
	for _, svc := range []string{"worker", "starter"} {
		s := service(t, p, svc)
		d, err := time.ParseDuration(envOf(t, s)["AHACC_SHUTDOWN_TIMEOUT"])
		require.NoError(t, err)
		require.NotNil(t, s.StopGracePeriod)
		assert.Lessf(t, d+5*time.Second, time.Duration(*s.StopGracePeriod), "%s: AHACC_SHUTDOWN_TIMEOUT must leave margin inside stop_grace_period", svc)
	}

	starter := envOf(t, service(t, p, "starter"))
	assert.Equal(t, "0.0.0.0:8080", starter["AHACC_HTTP_ADDR"], "the starter must listen on all interfaces inside its container")
	worker := envOf(t, service(t, p, "worker"))
	assert.Equal(t, "0.0.0.0:9090", worker["AHACC_WORKER_HEALTH_ADDR"])
	assert.Contains(t, service(t, p, "worker").Expose, "9090")
}

// TestComposeConfigVarsProvided checks that every ${VAR} the example config expands
// is in the worker's and the starter's environment; a missing one fails at start-up.
func TestComposeConfigVarsProvided(t *testing.T) {
	cfg := filepath.Join(repoRoot(t), "examples", "ahacc.yaml")
	if _, err := os.Stat(cfg); err != nil {
		t.Fatalf("examples/ahacc.yaml is missing: the images COPY it and compose mounts it (%v)", err)
	}
	p := mustLoad(t)
	vars := configVars(t, cfg)
	for _, svc := range []string{"worker", "starter"} {
		env := envOf(t, service(t, p, svc))
		for _, v := range vars {
			assert.Containsf(t, env, v, "examples/ahacc.yaml expands ${%s}, but the %s service does not set it", v, svc)
		}
	}
}

// TestComposeSecretsStayWithTheirServices: a secret reaches only the services that use it.
func TestComposeSecretsStayWithTheirServices(t *testing.T) {
	// A distinctive value per secret, so a leak is unambiguous.
	example := exampleEnv(t)
	for k := range example {
		if strings.Contains(k, "KEY") || strings.Contains(k, "TOKEN") || strings.Contains(k, "URL") || strings.Contains(k, "PASSWORD") {
			example[k] = "secret-marker-" + strings.ToLower(k)
		}
	}
	p, err := loadCompose(t, example)
	require.NoError(t, err)
	owners := map[string][]string{
		"POSTGRES_PASSWORD": {"postgresql", "temporal-schema", "temporal", "temporal-history", "temporal-matching", "temporal-worker"},
	}
	for _, v := range appEnv {
		if !v.secret {
			continue
		}
		if v.worker {
			owners[v.name] = append(owners[v.name], "worker")
		}
		if v.starter {
			owners[v.name] = append(owners[v.name], "starter")
		}
	}
	for name, allowed := range owners {
		secret := example[name]
		require.Equalf(t, "secret-marker-"+strings.ToLower(name), secret, ".env.example must list %s", name)
		for _, svc := range p.ServiceNames() {
			if slices.Contains(allowed, svc) {
				continue
			}
			s := p.Services[svc]
			for k, v := range envOf(t, s) {
				assert.NotContainsf(t, v, secret, "%s leaks into service %s (env %s)", name, svc, k)
			}
			assert.Emptyf(t, s.EnvFiles, "%s: env_file hands every secret in it to the container", svc)
		}
	}
}

func TestComposeRequiredVariables(t *testing.T) {
	required := []string{
		"AHA_BASE_URL", "AHA_API_KEY", "AHA_INTEGRATION_ID",
		"CC_BUGS_SOURCE_URL", "CC_FEATURES_SOURCE_URL", "CC_FEEDBACK_LISTENER_URL", "CC_USER_DATA_LISTENER_URL",
		"CC_STATUS_FIXED_LISTENER_URL", "CC_STATUS_WONT_FIX_LISTENER_URL",
		"AHACC_AHA_WEBHOOK_TOKEN", "AHACC_CENTERCODE_WEBHOOK_TOKEN", "POSTGRES_PASSWORD",
	}
	for _, name := range required {
		for _, mode := range []string{"unset", "empty"} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				env := exampleEnv(t)
				if mode == "unset" {
					delete(env, name)
				} else {
					env[name] = ""
				}
				_, err := loadCompose(t, env)
				require.Error(t, err)
				assert.Contains(t, err.Error(), name, "the error must name the missing variable")
				for k, v := range env {
					if strings.Contains(k, "KEY") || strings.Contains(k, "TOKEN") || strings.Contains(k, "URL") || strings.Contains(k, "PASSWORD") {
						if len(v) > 8 {
							assert.NotContains(t, err.Error(), v, "the error must not echo secret %s", k)
						}
					}
				}
			})
		}
	}
	// The defaults for everything else keep the stack loadable with only the
	// required variables set.
	minimal := map[string]string{}
	example := exampleEnv(t)
	for _, name := range required {
		minimal[name] = example[name]
	}
	p, err := loadCompose(t, minimal)
	require.NoError(t, err)
	assert.Equal(t, "temporal:7233", envOf(t, service(t, p, "worker"))["TEMPORAL_ADDRESS"])
	assert.Equal(t, "8233", service(t, p, "temporal-ui").Ports[0].Published)
}

func TestComposeDependsOn(t *testing.T) {
	p := mustLoad(t)
	tests := []struct {
		service string
		deps    map[string]string
	}{
		{"temporal-schema", map[string]string{"postgresql": types.ServiceConditionHealthy}},
		{"temporal", map[string]string{"temporal-schema": types.ServiceConditionCompletedSuccessfully}},
		{"temporal-history", map[string]string{"temporal-schema": types.ServiceConditionCompletedSuccessfully}},
		{"temporal-matching", map[string]string{"temporal-schema": types.ServiceConditionCompletedSuccessfully}},
		{"temporal-worker", map[string]string{"temporal-schema": types.ServiceConditionCompletedSuccessfully}},
		{"temporal-setup", map[string]string{"temporal": types.ServiceConditionHealthy}},
		{"temporal-ui", map[string]string{"temporal": types.ServiceConditionHealthy}},
		{"worker", map[string]string{
			"temporal":       types.ServiceConditionHealthy,
			"redis":          types.ServiceConditionHealthy,
			"temporal-setup": types.ServiceConditionCompletedSuccessfully,
		}},
		{"starter", map[string]string{
			"temporal":       types.ServiceConditionHealthy,
			"redis":          types.ServiceConditionHealthy,
			"temporal-setup": types.ServiceConditionCompletedSuccessfully,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.service, func(t *testing.T) {
			got := map[string]string{}
			for name, d := range service(t, p, tc.service).DependsOn {
				got[name] = d.Condition
				if d.Condition == types.ServiceConditionHealthy {
					assert.NotNilf(t, service(t, p, name).HealthCheck, "%s waits for %s to be healthy, which has no healthcheck", tc.service, name)
				}
			}
			assert.Equal(t, tc.deps, got)
		})
	}
}

func TestComposeHealthchecks(t *testing.T) {
	p := mustLoad(t)
	tests := []struct {
		service string
		want    []string // test must contain these, in order
	}{
		{"postgresql", []string{"CMD-SHELL", "pg_isready -U temporal"}},
		{"temporal", []string{"CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/7233"}},
		{"redis", []string{"CMD", "redis-cli", "ping"}},
		{"starter", []string{"CMD", "/usr/local/bin/starter", "healthcheck"}},
	}
	for _, tc := range tests {
		t.Run(tc.service, func(t *testing.T) {
			hc := service(t, p, tc.service).HealthCheck
			require.NotNil(t, hc)
			assert.False(t, hc.Disable)
			joined := strings.Join(hc.Test, " ")
			assert.Contains(t, joined, strings.Join(tc.want, " "))
			require.NotNil(t, hc.Interval)
			require.NotNil(t, hc.Retries)
		})
	}
	// The temporal healthcheck dials 127.0.0.1, which only answers when the server
	// binds all interfaces.
	assert.Equal(t, "0.0.0.0", envOf(t, service(t, p, "temporal"))["BIND_ON_IP"])
	// The starter healthcheck runs the binary the starter image installs.
	df := parseDockerfile(t, "Dockerfile")
	assert.Contains(t, df.stage("starter").copyDests(), service(t, p, "starter").HealthCheck.Test[1])
}

func TestComposeTemporal(t *testing.T) {
	p := mustLoad(t)
	pgEnv := envOf(t, service(t, p, "postgresql"))
	for _, name := range []string{"temporal-schema", "temporal", "temporal-history", "temporal-matching", "temporal-worker"} {
		env := envOf(t, service(t, p, name))
		assert.Equal(t, "postgres12", env["DB"], name)
		assert.Equal(t, "postgresql", env["POSTGRES_SEEDS"], name)
		assert.Equal(t, "5432", env["DB_PORT"], name)
		assert.Equal(t, pgEnv["POSTGRES_USER"], env["POSTGRES_USER"], name)
		assert.Equal(t, pgEnv["POSTGRES_PASSWORD"], env["POSTGRES_PWD"], name)
	}
	// One service per container, from the image built of go.mod's server.
	for svc, name := range map[string]string{"frontend": "temporal", "history": "temporal-history", "matching": "temporal-matching", "worker": "temporal-worker"} {
		s := service(t, p, name)
		assert.Equal(t, svc, envOf(t, s)["SERVICES"], name)
		assert.True(t, strings.HasPrefix(s.Image, "ahacc/temporal-server:"), s.Image)
		require.NotNil(t, s.Build, name)
		assert.Equal(t, "temporal-server", s.Build.Target, name)
		assert.Equal(t, "unless-stopped", s.Restart, "%s: a service that exits (e.g. started while PostgreSQL is down) is started again", name)
	}
	schema := service(t, p, "temporal-schema")
	require.NotNil(t, schema.Build)
	assert.Equal(t, "temporal-tools", schema.Build.Target)
	assert.Equal(t, "no", schema.Restart)

	setup := service(t, p, "temporal-setup")
	assert.Equal(t, types.ShellCommand{"setup-temporal", "--retention", "72h"}, setup.Command)
	assert.True(t, strings.HasPrefix(setup.Image, "ahacc/starter:"), setup.Image)
	assert.Equal(t, envOf(t, service(t, p, "worker"))["TEMPORAL_NAMESPACE"], envOf(t, setup)["TEMPORAL_NAMESPACE"])
	assert.Equal(t, "no", setup.Restart, "a one-shot job; completed_successfully is what the app waits for")

	pg := service(t, p, "postgresql")
	require.Len(t, pg.Volumes, 1)
	assert.Equal(t, types.VolumeTypeVolume, pg.Volumes[0].Type)
	assert.Equal(t, "/var/lib/postgresql/data", pg.Volumes[0].Target)
	assert.Contains(t, p.Volumes, pg.Volumes[0].Source)
	assert.True(t, strings.HasPrefix(pg.Image, "postgres:16"), pg.Image)
	assert.True(t, strings.HasPrefix(service(t, p, "redis").Image, "redis:7"))
}

func TestComposeUI(t *testing.T) {
	p := mustLoad(t)
	ui := service(t, p, "temporal-ui")
	assert.True(t, strings.HasPrefix(ui.Image, "temporalio/ui:"), ui.Image)
	env := envOf(t, ui)
	assert.Equal(t, "temporal:7233", env["TEMPORAL_ADDRESS"])
	assert.NotEmpty(t, env["TEMPORAL_CORS_ORIGINS"])
	assert.Contains(t, strings.Split(env["TEMPORAL_CORS_ORIGINS"], ","), "http://localhost:8233")
	// Operators signal (retry/skip), reset and terminate from the UI.
	for _, k := range []string{"TEMPORAL_DISABLE_WRITE_ACTIONS", "TEMPORAL_WORKFLOW_SIGNAL_DISABLED", "TEMPORAL_WORKFLOW_RESET_DISABLED", "TEMPORAL_WORKFLOW_TERMINATE_DISABLED"} {
		assert.Equalf(t, "false", env[k], "%s", k)
	}
}

// TestComposeEnvExampleDocumentsEveryVariable: every ${VAR} the compose files
// interpolate is documented in .env.example, and .env.example documents nothing else.
func TestComposeEnvExampleDocumentsEveryVariable(t *testing.T) {
	example := exampleEnv(t)
	used := map[string]bool{}
	for _, f := range []string{"compose.yaml", "compose.scale.yaml"} {
		for _, v := range configVars(t, f) {
			used[v] = true
		}
	}
	for v := range used {
		assert.Containsf(t, example, v, "compose interpolates ${%s}; document it in .env.example", v)
	}
	for v := range example {
		assert.Truef(t, used[v], ".env.example documents %s, which no compose file uses", v)
	}
}

// TestComposeScaleOverride checks the M-starters setup: the starters stop publishing
// the host port and a load balancer publishes it and forwards to every replica.
func TestComposeScaleOverride(t *testing.T) {
	p := mustLoad(t, "compose.yaml", "compose.scale.yaml")
	st := service(t, p, "starter")
	assert.Empty(t, st.Ports, "starter replicas cannot share a published host port")
	assert.Contains(t, st.Expose, "8080")
	assert.Equal(t, "starter", st.Build.Target, "the override keeps the base service")

	lb := service(t, p, "starter-lb")
	require.Len(t, lb.Ports, 1)
	assert.Equal(t, uint32(8080), lb.Ports[0].Target)
	assert.Equal(t, "8080", lb.Ports[0].Published)
	assert.Equal(t, types.ServiceConditionHealthy, lb.DependsOn["starter"].Condition)
	require.Len(t, lb.Volumes, 1)
	caddyfile, err := filepath.Abs(filepath.Join("caddy", "Caddyfile"))
	require.NoError(t, err)
	assert.Equal(t, caddyfile, lb.Volumes[0].Source)
	assert.Equal(t, "/etc/caddy/Caddyfile", lb.Volumes[0].Target)

	b, err := os.ReadFile(caddyfile)
	require.NoError(t, err)
	cf := string(b)
	assert.Contains(t, cf, ":8080 {", "the proxy listens on the port it publishes")
	assert.Regexp(t, `(?m)^\s*name starter$`, cf, "upstreams are every replica of the starter service")
	assert.Regexp(t, `(?m)^\s*port 8080$`, cf)
	assert.Contains(t, cf, "dynamic a", "re-resolve so --scale changes are picked up")

	// Without the override nothing changes for the plain stack.
	base := mustLoad(t)
	assert.NotContains(t, base.ServiceNames(), "starter-lb")
}
