package docker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// instruction is one Dockerfile instruction with continuation lines joined.
type instruction struct {
	cmd  string // upper-case keyword
	args string
	line int
}

type stage struct {
	name, from string
	ins        []instruction
}

type dockerfile struct {
	args   map[string]string // global ARGs (before the first FROM) with defaults
	stages []*stage
}

// parseDockerfile is a small line-based parser (moby/buildkit is not a dependency of
// this module): comments, blank lines, `\` continuations, global ARGs and stages.
func parseDockerfile(t *testing.T, path string) *dockerfile {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	df := &dockerfile{args: map[string]string{}}
	var cur *stage
	var pending strings.Builder
	start := 0
	for i, raw := range strings.Split(string(b), "\n") {
		line := strings.TrimSpace(raw)
		if pending.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if pending.Len() > 0 && strings.HasPrefix(line, "#") {
			continue // comment inside a continued instruction
		}
		if pending.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending.WriteString(cont + " ")
			continue
		}
		pending.WriteString(line)
		full := strings.Join(strings.Fields(pending.String()), " ")
		pending.Reset()
		cmd, args, _ := strings.Cut(full, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: args, line: start}
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(args)
			var from, name string
			for j := 0; j < len(f); j++ {
				switch {
				case strings.HasPrefix(f[j], "--"):
				case strings.EqualFold(f[j], "AS") && j+1 < len(f):
					name = f[j+1]
					j++
				default:
					from = f[j]
				}
			}
			cur = &stage{name: name, from: from}
			df.stages = append(df.stages, cur)
		case cur == nil:
			require.Equalf(t, "ARG", in.cmd, "%s:%d: only ARG may precede the first FROM", path, in.line)
			k, v, _ := strings.Cut(args, "=")
			df.args[k] = v
		default:
			cur.ins = append(cur.ins, in)
		}
	}
	require.Zero(t, pending.Len(), "%s ends inside a continued instruction", path)
	return df
}

func (d *dockerfile) stageNames() []string {
	var out []string
	for _, s := range d.stages {
		out = append(out, s.name)
	}
	return out
}

func (d *dockerfile) stage(name string) *stage {
	for _, s := range d.stages {
		if s.name == name {
			return s
		}
	}
	return nil
}

// chain returns the stage and the stages it is built FROM, nearest first.
func (d *dockerfile) chain(name string) []*stage {
	var out []*stage
	for s := d.stage(name); s != nil; s = d.stage(s.from) {
		out = append(out, s)
	}
	return out
}

func (s *stage) all(cmd string) []instruction {
	if s == nil {
		return nil
	}
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// copyDests lists the destination paths of the stage's COPY instructions.
func (s *stage) copyDests() []string {
	var out []string
	for _, in := range s.all("COPY") {
		f := strings.Fields(in.args)
		out = append(out, f[len(f)-1])
	}
	return out
}

// lastValue is the value of the last instruction cmd setting key (ENV k=v, USER u).
func lastEnv(chain []*stage, key string) (string, bool) {
	for _, s := range chain { // nearest stage first
		envs := s.all("ENV")
		for i := len(envs) - 1; i >= 0; i-- {
			for _, kv := range strings.Fields(envs[i].args) {
				if k, v, ok := strings.Cut(kv, "="); ok && k == key {
					return v, true
				}
			}
		}
	}
	return "", false
}

func lastUser(chain []*stage) string {
	for _, s := range chain {
		if u := s.all("USER"); len(u) > 0 {
			return u[len(u)-1].args
		}
	}
	return ""
}

func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var out []string
	require.NoErrorf(t, json.Unmarshal([]byte(in.args), &out), "line %d: %s must use the exec (JSON) form so signals reach the binary", in.line, in.cmd)
	return out
}

func TestDockerfileStages(t *testing.T) {
	df := parseDockerfile(t, "Dockerfile")
	for _, name := range []string{"modules", "build-worker", "build-starter", "runtime", "worker", "starter"} {
		assert.NotNilf(t, df.stage(name), "stage %q missing", name)
	}

	// Builder: the Go release go.mod asks for.
	gomod, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	require.NotNil(t, m)
	assert.Equal(t, string(m[1]), df.args["GO_VERSION"], "builder Go version must match go.mod")
	assert.Equal(t, "golang:${GO_VERSION}-bookworm", df.stage("modules").from)

	// Runtime: distroless static, non-root.
	assert.Equal(t, "gcr.io/distroless/static-debian12:nonroot", df.stage("runtime").from)
	for _, target := range []string{"worker", "starter"} {
		chain := df.chain(target)
		require.GreaterOrEqual(t, len(chain), 2)
		assert.Equal(t, "runtime", chain[0].from, "%s builds on the runtime stage", target)
		assert.Equal(t, "nonroot:nonroot", lastUser(chain), "%s runs as the distroless nonroot user", target)
	}
	// The default target (last stage) is an application image, not a builder.
	assert.Equal(t, "starter", df.stages[len(df.stages)-1].name)
}

func TestDockerfileModuleLayerCaching(t *testing.T) {
	df := parseDockerfile(t, "Dockerfile")
	mod := df.stage("modules")
	require.NotNil(t, mod)
	require.GreaterOrEqual(t, len(mod.ins), 3)
	copies := mod.all("COPY")
	require.Len(t, copies, 1, "the modules stage copies go.mod/go.sum only")
	assert.Equal(t, "go.mod go.sum ./", copies[0].args)
	runs := mod.all("RUN")
	require.Len(t, runs, 1)
	assert.Contains(t, runs[0].args, "go mod download")
	assert.Less(t, copies[0].line, runs[0].line)

	// The full source is copied only after, in a stage the module layer is reused by.
	src := df.stage("source")
	require.NotNil(t, src)
	assert.Equal(t, "modules", src.from)
	require.Len(t, src.all("COPY"), 1)
	assert.Equal(t, ". .", src.all("COPY")[0].args)
}

func TestDockerfileStaticBuilds(t *testing.T) {
	df := parseDockerfile(t, "Dockerfile")
	for _, bin := range []string{"worker", "starter"} {
		t.Run(bin, func(t *testing.T) {
			b := df.stage("build-" + bin)
			require.NotNil(t, b)
			assert.Equal(t, "source", b.from)
			runs := b.all("RUN")
			require.Len(t, runs, 1)
			r := runs[0].args
			assert.Contains(t, r, "CGO_ENABLED=0")
			assert.Contains(t, r, "-trimpath")
			assert.Contains(t, r, `-ldflags="-s -w"`)
			assert.Contains(t, r, "-o /out/"+bin+" ./"+bin)
			other := map[string]string{"worker": "./starter", "starter": "./worker"}[bin]
			assert.NotContains(t, r, other, "--target %s must not compile the other binary", bin)
			assert.Contains(t, r, "GOOS=$TARGETOS GOARCH=$TARGETARCH", "cross-compiles for the requested platform")

			// The target stage copies exactly that binary and runs it.
			final := df.stage(bin)
			require.NotNil(t, final)
			assert.Contains(t, final.all("COPY")[0].args, "--from=build-"+bin+" /out/"+bin+" /usr/local/bin/"+bin)
			ep := final.all("ENTRYPOINT")
			require.Len(t, ep, 1)
			assert.Equal(t, []string{"/usr/local/bin/" + bin}, execForm(t, ep[0]))
		})
	}
	// The main packages the Dockerfile builds exist (the lead's ./worker and ./starter).
	for _, dir := range []string{"worker", "starter"} {
		assert.DirExists(t, filepath.Join(repoRoot(t), dir))
	}
}

func TestDockerfileRuntimeConfig(t *testing.T) {
	df := parseDockerfile(t, "Dockerfile")
	rt := df.stage("runtime")
	require.NotNil(t, rt)
	assert.Contains(t, rt.copyDests(), "/etc/ahacc/ahacc.yaml")
	assert.Equal(t, "examples/ahacc.yaml /etc/ahacc/ahacc.yaml", rt.all("COPY")[0].args)
	for _, target := range []string{"worker", "starter"} {
		v, ok := lastEnv(df.chain(target), "AHACC_CONFIG")
		assert.True(t, ok)
		assert.Equal(t, "/etc/ahacc/ahacc.yaml", v, "%s: AHACC_CONFIG points at the baked-in config", target)
	}

	st := df.stage("starter")
	require.Len(t, st.all("EXPOSE"), 1)
	assert.Equal(t, "8080", st.all("EXPOSE")[0].args)
	addr, ok := lastEnv(df.chain("starter"), "AHACC_HTTP_ADDR")
	assert.True(t, ok)
	assert.Equal(t, "0.0.0.0:8080", addr, "in a container the starter must not bind loopback only")
	hc := st.all("HEALTHCHECK")
	require.Len(t, hc, 1)
	assert.Contains(t, hc[0].args, `CMD ["/usr/local/bin/starter", "healthcheck"]`)

	w := df.stage("worker")
	require.Len(t, w.all("EXPOSE"), 1)
	assert.Equal(t, "9090", w.all("EXPOSE")[0].args)

	// distroless has no shell: no RUN after the runtime image is chosen.
	for _, name := range []string{"runtime", "worker", "starter"} {
		assert.Emptyf(t, df.stage(name).all("RUN"), "%s: distroless/static has no shell to RUN with", name)
	}
}

// TestDockerfileCopySourcesInContext: every file COPY takes from the build context
// exists in the repository and is not filtered out by the .dockerignore.
func TestDockerfileCopySourcesInContext(t *testing.T) {
	df := parseDockerfile(t, "Dockerfile")
	ign := loadDockerignore(t, "Dockerfile.dockerignore")
	root := repoRoot(t)
	for _, s := range df.stages {
		for _, in := range s.all("COPY") {
			if strings.Contains(in.args, "--from=") {
				continue
			}
			f := strings.Fields(in.args)
			for _, src := range f[:len(f)-1] {
				if strings.HasPrefix(src, "--") || src == "." {
					continue
				}
				assert.FileExistsf(t, filepath.Join(root, src), "line %d: COPY %s", in.line, src)
				assert.Falsef(t, ign.excluded(src), "line %d: COPY %s, but the .dockerignore excludes it", in.line, src)
			}
		}
	}
}

// dockerignore implements the matching rules of .dockerignore files: patterns are
// relative to the context root, `**` spans directories, a pattern that matches a
// directory excludes everything beneath it, later `!` patterns re-include.
type dockerignore struct {
	rules []ignoreRule
}

type ignoreRule struct {
	re     *regexp.Regexp
	negate bool
}

func loadDockerignore(t *testing.T, path string) dockerignore {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var d dockerignore
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if p, ok := strings.CutPrefix(line, "!"); ok {
			r.negate, line = true, p
		}
		line = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(line)), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case c == '*' && i+1 < len(line) && line[i+1] == '*':
				i++
				if i+1 < len(line) && line[i+1] == '/' {
					i++
					re.WriteString("(?:.*/)?")
				} else {
					re.WriteString(".*")
				}
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("(?:/.*)?$")
		r.re = regexp.MustCompile(re.String())
		d.rules = append(d.rules, r)
	}
	return d
}

func (d dockerignore) excluded(path string) bool {
	path = filepath.ToSlash(filepath.Clean(path))
	out := false
	for _, r := range d.rules {
		if r.re.MatchString(path) {
			out = !r.negate
		}
	}
	return out
}

func TestDockerignore(t *testing.T) {
	ign := loadDockerignore(t, "Dockerfile.dockerignore")
	tests := []struct {
		path     string
		excluded bool
	}{
		// Needed by the build.
		{"go.mod", false},
		{"go.sum", false},
		{"examples/ahacc.yaml", false},
		{"worker/main.go", false},
		{"starter/main.go", false},
		{"internal/aha/client.go", false},
		{"mapping/config.go", false},
		// Secrets and local state never enter the context.
		{".env", true},
		{"docker/.env", true},
		{"docker/.env.local", true},
		{"docker/k8s/secret.env", true},
		{".git/config", true},
		{".data/temporal.db", true},
		{"internal/devstack/.data/x", true},
		{"certs/tls.key", true},
		// Not needed to build.
		{"mapping/mapping_test.go", true},
		{"bin/worker", true},
	}
	for _, tc := range tests {
		assert.Equalf(t, tc.excluded, ign.excluded(tc.path), "%s", tc.path)
	}
	// BuildKit only honours <Dockerfile>.dockerignore next to the Dockerfile.
	assert.FileExists(t, "Dockerfile.dockerignore")
}
