package docker

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/cluster"
)

// TestComposeMatchesTheTestedCluster fails when docker/compose.yaml drifts from
// the topology make test-cluster runs (internal/cluster): the same server
// (built from go.mod's pin), the same schema script, the same dynamic config,
// the same namespace and search-attribute command and the same server
// environment names.
func TestComposeMatchesTheTestedCluster(t *testing.T) {
	p := mustLoad(t)
	df := parseDockerfile(t, "Dockerfile")

	// Server and schema tool: built in the image from the packages the cluster
	// builds, which go.mod pins as tools.
	gomod, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	require.NoError(t, err)
	tools := regexp.MustCompile(`(?s)\ntool \((.*?)\)`).FindSubmatch(gomod)
	require.NotNil(t, tools, "go.mod has a tool block")
	for _, pkg := range []string{cluster.ServerPackage, cluster.SQLToolPackage} {
		assert.Contains(t, strings.Fields(string(tools[1])), pkg, "go.mod pins %s as a tool", pkg)
		assert.Contains(t, df.stage("build-temporal").all("RUN")[0].args, pkg, "the image builds %s", pkg)
	}

	// Schema: the temporal-tools image runs the cluster's script.
	tt := df.stage("temporal-tools")
	require.NotNil(t, tt)
	assert.Contains(t, tt.copyDests(), "/usr/local/bin/setup-postgres.sh")
	assert.Contains(t, tt.all("COPY")[1].args, cluster.SchemaScript+" ")
	assert.Equal(t, []string{"/bin/sh", "/usr/local/bin/setup-postgres.sh"}, execForm(t, tt.all("ENTRYPOINT")[0]))
	assert.Equal(t, "temporal-tools", service(t, p, "temporal-schema").Build.Target)

	// Dynamic config: the cluster's file, baked into the image and mounted.
	ts := df.stage("temporal-server")
	require.NotNil(t, ts)
	var copied bool
	for _, c := range ts.all("COPY") {
		copied = copied || strings.HasPrefix(c.args, cluster.DynamicConfig+" ")
	}
	assert.True(t, copied, "the server image carries %s", cluster.DynamicConfig)

	// Namespace and search attributes: the command the cluster runs.
	assert.Equal(t, cluster.SetupCommand, service(t, p, "temporal-setup").Command[0])

	// Server environment: the names the cluster sets. In a container the
	// entrypoint derives TEMPORAL_BROADCAST_ADDRESS from the container's address.
	want := slices.DeleteFunc(slices.Clone(cluster.ServerEnv), func(n string) bool { return n == "TEMPORAL_BROADCAST_ADDRESS" })
	for _, name := range []string{"temporal", "temporal-history", "temporal-matching", "temporal-worker"} {
		s := service(t, p, name)
		var got []string
		for k := range envOf(t, s) {
			if k != "SERVICES" {
				got = append(got, k)
			}
		}
		assert.ElementsMatch(t, want, got, "%s's environment", name)
		var mounted bool
		for _, v := range s.Volumes {
			src, err := filepath.Rel(repoRoot(t), v.Source)
			require.NoError(t, err)
			mounted = mounted || (src == cluster.DynamicConfig && v.Target == envOf(t, s)["DYNAMIC_CONFIG_FILE_PATH"])
		}
		assert.True(t, mounted, "%s mounts %s where DYNAMIC_CONFIG_FILE_PATH points", name, cluster.DynamicConfig)
	}
	entry, err := os.ReadFile(filepath.Join(repoRoot(t), "docker", "temporal", "entrypoint.sh"))
	require.NoError(t, err)
	assert.Contains(t, string(entry), "TEMPORAL_BROADCAST_ADDRESS")
	assert.Contains(t, string(entry), `start --service "$SERVICES"`)
}

// TestK8sMatchesTheTestedCluster: the Kubernetes base registers the namespace
// and search attributes with the cluster's command, and its Temporal (the
// Helm chart) runs the server version go.mod pins.
func TestK8sMatchesTheTestedCluster(t *testing.T) {
	m := loadManifests(t)
	job, ok := m.jobs["ahacc-temporal-setup"]
	require.True(t, ok, "the base lists the setup Job")
	c := job.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "ahacc/starter", c.Image)
	assert.Equal(t, cluster.SetupCommand, c.Args[0])
	require.Len(t, c.EnvFrom, 1)
	assert.Equal(t, "ahacc-env", c.EnvFrom[0].ConfigMapRef.Name, "the Temporal address and namespace the worker and starter use")

	gomod, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	require.NoError(t, err)
	v := regexp.MustCompile(`(?m)^\s+go\.temporal\.io/server v(\S+)$`).FindSubmatch(gomod)
	require.NotNil(t, v)
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "docker", "k8s", "README.md"))
	require.NoError(t, err)
	assert.Contains(t, string(readme), "--set server.image.tag="+string(v[1])+" ", "the Helm chart runs the server go.mod pins")
}
