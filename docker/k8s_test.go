package docker

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsyaml "sigs.k8s.io/yaml"
)

const k8sDir = "k8s"

// kustomization holds the fields of kustomization.yaml this base uses; decoding is
// strict, so a misspelt field fails the test.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
		IncludeTemplates bool              `json:"includeTemplates"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
	ConfigMapGenerator []generator `json:"configMapGenerator"`
	SecretGenerator    []generator `json:"secretGenerator"`
}

type generator struct {
	Name     string   `json:"name"`
	Files    []string `json:"files,omitempty"`
	Literals []string `json:"literals,omitempty"`
	Envs     []string `json:"envs,omitempty"`
}

type manifests struct {
	kust        kustomization
	namespaces  []corev1.Namespace
	deployments map[string]appsv1.Deployment
	services    map[string]corev1.Service
	hpas        []autoscalingv2.HorizontalPodAutoscaler
	pdbs        []policyv1.PodDisruptionBudget
	jobs        map[string]batchv1.Job
}

// loadManifests parses kustomization.yaml and every resource it lists into the
// Kubernetes API types, rejecting unknown fields.
func loadManifests(t *testing.T) manifests {
	t.Helper()
	m := manifests{deployments: map[string]appsv1.Deployment{}, services: map[string]corev1.Service{}, jobs: map[string]batchv1.Job{}}
	b, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	require.NoError(t, err)
	require.NoError(t, sigsyaml.UnmarshalStrict(b, &m.kust), "kustomization.yaml")

	for _, res := range m.kust.Resources {
		b, err := os.ReadFile(filepath.Join(k8sDir, res))
		require.NoErrorf(t, err, "kustomization lists %s", res)
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var tm metav1.TypeMeta
			require.NoErrorf(t, sigsyaml.Unmarshal([]byte(doc), &tm), "%s doc %d", res, i)
			where := res + " (" + tm.Kind + ")"
			strict := func(into any) {
				require.NoErrorf(t, sigsyaml.UnmarshalStrict([]byte(doc), into), "%s", where)
			}
			switch tm.APIVersion + "/" + tm.Kind {
			case "v1/Namespace":
				var o corev1.Namespace
				strict(&o)
				m.namespaces = append(m.namespaces, o)
			case "apps/v1/Deployment":
				var o appsv1.Deployment
				strict(&o)
				m.deployments[o.Name] = o
			case "v1/Service":
				var o corev1.Service
				strict(&o)
				m.services[o.Name] = o
			case "autoscaling/v2/HorizontalPodAutoscaler":
				var o autoscalingv2.HorizontalPodAutoscaler
				strict(&o)
				m.hpas = append(m.hpas, o)
			case "policy/v1/PodDisruptionBudget":
				var o policyv1.PodDisruptionBudget
				strict(&o)
				m.pdbs = append(m.pdbs, o)
			case "batch/v1/Job":
				var o batchv1.Job
				strict(&o)
				m.jobs[o.Name] = o
			default:
				t.Fatalf("%s: unexpected apiVersion/kind %s/%s", res, tm.APIVersion, tm.Kind)
			}
		}
	}
	return m
}

func (m manifests) configMapGen(t *testing.T, name string) generator {
	t.Helper()
	for _, g := range m.kust.ConfigMapGenerator {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("configMapGenerator %q missing", name)
	return generator{}
}

func TestK8sEveryManifestIsListed(t *testing.T) {
	m := loadManifests(t)
	entries, err := os.ReadDir(k8sDir)
	require.NoError(t, err)
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".yaml") || n == "kustomization.yaml" || n == "ahacc.yaml" {
			continue
		}
		assert.Containsf(t, m.kust.Resources, n, "%s is not in kustomization.yaml resources", n)
	}
	assert.Equal(t, "kustomize.config.k8s.io/v1beta1", m.kust.APIVersion)
	assert.Equal(t, "Kustomization", m.kust.Kind)
	require.Len(t, m.namespaces, 1)
	assert.Equal(t, m.kust.Namespace, m.namespaces[0].Name)
	assert.Equal(t, "restricted", m.namespaces[0].Labels["pod-security.kubernetes.io/enforce"])
	for _, l := range m.kust.Labels {
		assert.False(t, l.IncludeSelectors, "common labels in selectors would make Deployments immutable to later label changes")
	}
}

func TestK8sDeployments(t *testing.T) {
	m := loadManifests(t)
	tests := []struct {
		name, container, image, portName string
		port                             int32
	}{
		{"ahacc-worker", "worker", "ahacc/worker", "metrics", 9090},
		{"ahacc-starter", "starter", "ahacc/starter", "http", 8080},
	}
	require.Len(t, m.deployments, len(tests))
	images := map[string]bool{}
	for _, img := range m.kust.Images {
		images[img.Name] = img.NewTag != ""
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := m.deployments[tc.name]
			require.True(t, ok)
			require.NotNil(t, d.Spec.Replicas)
			assert.Equal(t, int32(2), *d.Spec.Replicas)

			// The selector selects the pod template.
			require.NotNil(t, d.Spec.Selector)
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			require.NoError(t, err)
			assert.False(t, sel.Empty())
			assert.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "selector %v does not match template labels %v", sel, d.Spec.Template.Labels)

			pod := d.Spec.Template.Spec
			require.Len(t, pod.Containers, 1)
			c := pod.Containers[0]
			assert.Equal(t, tc.container, c.Name)
			assert.Equal(t, tc.image, c.Image)
			assert.True(t, images[tc.image], "kustomization images must pin a tag for %s", tc.image)

			// Probes hit the app's health endpoints on a port the container declares.
			require.Len(t, c.Ports, 1)
			assert.Equal(t, tc.portName, c.Ports[0].Name)
			assert.Equal(t, tc.port, c.Ports[0].ContainerPort)
			for _, pr := range []struct {
				probe *corev1.Probe
				path  string
			}{{c.LivenessProbe, "/healthz"}, {c.ReadinessProbe, "/readyz"}} {
				probe, path := pr.probe, pr.path
				require.NotNilf(t, probe, "%s probe missing", path)
				require.NotNil(t, probe.HTTPGet)
				assert.Equal(t, path, probe.HTTPGet.Path)
				assert.Equal(t, intstr.FromString(tc.portName), probe.HTTPGet.Port)
				assert.Positive(t, probe.TimeoutSeconds)
			}

			// Requests are what the HPA's utilisation is measured against.
			assert.False(t, c.Resources.Requests.Cpu().IsZero(), "cpu request")
			assert.False(t, c.Resources.Requests.Memory().IsZero(), "memory request")
			assert.False(t, c.Resources.Limits.Memory().IsZero(), "memory limit")

			// Restricted pod security: non-root (distroless nonroot uid), no escalation.
			require.NotNil(t, pod.SecurityContext)
			require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
			assert.True(t, *pod.SecurityContext.RunAsNonRoot)
			assert.Equal(t, int64(65532), *pod.SecurityContext.RunAsUser)
			require.NotNil(t, pod.SecurityContext.SeccompProfile)
			assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.SecurityContext.SeccompProfile.Type)
			require.NotNil(t, c.SecurityContext)
			assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
			assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
			assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
			require.NotNil(t, pod.AutomountServiceAccountToken)
			assert.False(t, *pod.AutomountServiceAccountToken)
			require.NotNil(t, pod.TerminationGracePeriodSeconds)
			assert.GreaterOrEqual(t, *pod.TerminationGracePeriodSeconds, int64(30))
			// The grace period covers the preStop pause and the app's drain deadline.
			var drain time.Duration
			for _, e := range c.Env {
				if e.Name == "AHACC_SHUTDOWN_TIMEOUT" {
					d, err := time.ParseDuration(e.Value)
					require.NoError(t, err)
					drain = d
				}
			}
			require.Positive(t, drain, "AHACC_SHUTDOWN_TIMEOUT")
			var preStop time.Duration
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
				preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
			}
			assert.Less(t, preStop+drain+3*time.Second, time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second,
				"preStop + AHACC_SHUTDOWN_TIMEOUT must fit in terminationGracePeriodSeconds")

			// AHACC_CONFIG names the file the ahacc-config ConfigMap volume provides.
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				env[e.Name] = e
			}
			cfg := env["AHACC_CONFIG"].Value
			require.NotEmpty(t, cfg)
			var cfgVolume string
			for _, vm := range c.VolumeMounts {
				if filepath.Dir(cfg) == vm.MountPath {
					cfgVolume = vm.Name
					assert.True(t, vm.ReadOnly)
				}
			}
			require.NotEmpty(t, cfgVolume, "no volume mounted at %s", filepath.Dir(cfg))
			var found bool
			for _, v := range pod.Volumes {
				if v.Name == cfgVolume {
					require.NotNil(t, v.ConfigMap)
					assert.Equal(t, "ahacc-config", v.ConfigMap.Name)
					found = true
				}
			}
			assert.True(t, found)
			assert.Contains(t, m.configMapGen(t, "ahacc-config").Files, filepath.Base(cfg))
		})
	}
	starter := m.deployments["ahacc-starter"].Spec.Template.Spec.Containers[0]
	require.NotNil(t, starter.Lifecycle)
	require.NotNil(t, starter.Lifecycle.PreStop)
	require.NotNil(t, starter.Lifecycle.PreStop.Sleep, "distroless has no sleep binary: use the sleep action")
}

// TestK8sEnvWiring: each container gets exactly the variables it needs (same set as
// the compose stack), secrets only through the Secret, and every secret key exists
// in secret.env.example.
func TestK8sEnvWiring(t *testing.T) {
	m := loadManifests(t)
	secretGen := m.kust.SecretGenerator
	require.Len(t, secretGen, 1)
	assert.Equal(t, []string{"secret.env"}, secretGen[0].Envs)
	secretExample := readEnvFile(t, filepath.Join(k8sDir, "secret.env.example"))
	envLiterals := map[string]string{}
	for _, l := range m.configMapGen(t, "ahacc-env").Literals {
		k, v, ok := strings.Cut(l, "=")
		require.True(t, ok, l)
		envLiterals[k] = v
	}
	assert.Equal(t, "temporal-frontend.temporal.svc.cluster.local:7233", envLiterals["TEMPORAL_ADDRESS"], "the Temporal Helm chart's frontend Service (release \"temporal\", namespace \"temporal\")")

	usedSecretKeys := map[string]bool{}
	for _, tc := range []struct{ deployment, role string }{{"ahacc-worker", "worker"}, {"ahacc-starter", "starter"}} {
		t.Run(tc.role, func(t *testing.T) {
			c := m.deployments[tc.deployment].Spec.Template.Spec.Containers[0]
			got := map[string]bool{}
			for _, e := range c.Env {
				assert.Falsef(t, got[e.Name], "%s set twice", e.Name)
				got[e.Name] = true
				if e.ValueFrom != nil {
					ref := e.ValueFrom.SecretKeyRef
					require.NotNilf(t, ref, "%s: only Secret references are expected", e.Name)
					assert.Equal(t, secretGen[0].Name, ref.Name)
					assert.Equal(t, e.Name, ref.Key)
					assert.Containsf(t, secretExample, ref.Key, "secret.env.example must list %s", ref.Key)
					usedSecretKeys[ref.Key] = true
				}
			}
			require.Len(t, c.EnvFrom, 1)
			require.NotNil(t, c.EnvFrom[0].ConfigMapRef, "envFrom only for the non-secret ConfigMap")
			assert.Equal(t, "ahacc-env", c.EnvFrom[0].ConfigMapRef.Name)
			for k := range envLiterals {
				assert.Falsef(t, got[k], "%s comes from both env and the ahacc-env ConfigMap", k)
				got[k] = true
			}

			var want []string
			for _, v := range appEnv {
				if (tc.role == "worker" && v.worker) || (tc.role == "starter" && v.starter) {
					want = append(want, v.name)
					if v.secret {
						// A secret must never be a plain value or a ConfigMap entry.
						assert.NotContainsf(t, envLiterals, v.name, "%s is a secret", v.name)
						for _, e := range c.Env {
							if e.Name == v.name {
								require.NotNilf(t, e.ValueFrom, "%s is a secret: use the Secret", v.name)
								optional := e.ValueFrom.SecretKeyRef.Optional != nil && *e.ValueFrom.SecretKeyRef.Optional
								assert.Equalf(t, v.optional, optional, "%s: a required secret must not be optional, an optional one must be", v.name)
							}
						}
					}
				}
			}
			var gotNames []string
			for k := range got {
				gotNames = append(gotNames, k)
			}
			sort.Strings(want)
			sort.Strings(gotNames)
			assert.Equal(t, want, gotNames)
		})
	}
	for k := range secretExample {
		assert.Truef(t, usedSecretKeys[k], "secret.env.example lists %s, which no container reads", k)
	}
}

func TestK8sStarterService(t *testing.T) {
	m := loadManifests(t)
	require.Len(t, m.services, 1)
	svc, ok := m.services["ahacc-starter"]
	require.True(t, ok)
	d := m.deployments["ahacc-starter"]
	assert.True(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)), "Service selector must match the starter pods")
	assert.False(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(m.deployments["ahacc-worker"].Spec.Template.Labels)), "Service must not select workers")
	require.Len(t, svc.Spec.Ports, 1)
	named := map[string]bool{}
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		named[p.Name] = true
	}
	assert.Equal(t, intstr.String, svc.Spec.Ports[0].TargetPort.Type)
	assert.True(t, named[svc.Spec.Ports[0].TargetPort.StrVal], "targetPort names a container port")
}

func TestK8sWorkerHPA(t *testing.T) {
	m := loadManifests(t)
	require.Len(t, m.hpas, 1)
	h := m.hpas[0]
	ref := h.Spec.ScaleTargetRef
	assert.Equal(t, "apps/v1", ref.APIVersion)
	assert.Equal(t, "Deployment", ref.Kind)
	assert.Equal(t, "ahacc-worker", ref.Name)
	assert.Contains(t, m.deployments, ref.Name)
	require.NotNil(t, h.Spec.MinReplicas)
	assert.GreaterOrEqual(t, *h.Spec.MinReplicas, int32(2))
	assert.Greater(t, h.Spec.MaxReplicas, *h.Spec.MinReplicas)
	require.Len(t, h.Spec.Metrics, 1)
	res := h.Spec.Metrics[0].Resource
	require.NotNil(t, res)
	assert.Equal(t, autoscalingv2.ResourceMetricSourceType, h.Spec.Metrics[0].Type)
	assert.Equal(t, corev1.ResourceCPU, res.Name)
	assert.Equal(t, autoscalingv2.UtilizationMetricType, res.Target.Type)
	require.NotNil(t, res.Target.AverageUtilization)
	assert.Equal(t, int32(70), *res.Target.AverageUtilization)
	require.NotNil(t, h.Spec.Behavior)
	require.NotNil(t, h.Spec.Behavior.ScaleDown)
}

func TestK8sPodDisruptionBudgets(t *testing.T) {
	m := loadManifests(t)
	require.Len(t, m.pdbs, 2)
	covered := map[string]bool{}
	for _, p := range m.pdbs {
		require.NotNil(t, p.Spec.Selector)
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		require.NoError(t, err)
		var matched []string
		for name, d := range m.deployments {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				matched = append(matched, name)
			}
		}
		require.Lenf(t, matched, 1, "PDB %s must select exactly one Deployment's pods", p.Name)
		covered[matched[0]] = true
		require.NotNil(t, p.Spec.MinAvailable)
		// Keeps one pod through voluntary disruptions yet never blocks a node drain
		// while the Deployment runs more replicas than that.
		assert.Less(t, p.Spec.MinAvailable.IntValue(), int(*m.deployments[matched[0]].Spec.Replicas))
		assert.Positive(t, p.Spec.MinAvailable.IntValue())
	}
	assert.Len(t, covered, len(m.deployments))
}

// TestK8sConfigIsTheExample: kustomize only reads files below docker/k8s, so the
// ConfigMap source is a copy of examples/ahacc.yaml; this keeps them identical.
func TestK8sConfigIsTheExample(t *testing.T) {
	example := filepath.Join(repoRoot(t), "examples", "ahacc.yaml")
	want, err := os.ReadFile(example)
	require.NoError(t, err, "examples/ahacc.yaml is missing")
	got, err := os.ReadFile(filepath.Join(k8sDir, "ahacc.yaml"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got), "docker/k8s/ahacc.yaml differs from examples/ahacc.yaml: cp examples/ahacc.yaml docker/k8s/ahacc.yaml")

	// Every ${VAR} the config expands is set in both containers.
	m := loadManifests(t)
	for _, d := range m.deployments {
		c := d.Spec.Template.Spec.Containers[0]
		names := map[string]bool{}
		for _, e := range c.Env {
			names[e.Name] = true
		}
		for _, l := range m.configMapGen(t, "ahacc-env").Literals {
			k, _, _ := strings.Cut(l, "=")
			names[k] = true
		}
		for _, v := range configVars(t, example) {
			assert.Truef(t, names[v], "%s: the config expands ${%s}, which the container does not get", d.Name, v)
		}
	}
}

func TestK8sSecretsStayOutOfGit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(k8sDir, ".gitignore"))
	require.NoError(t, err)
	assert.Contains(t, strings.Fields(string(b)), "secret.env")
	ign := loadDockerignore(t, "Dockerfile.dockerignore")
	assert.True(t, ign.excluded("docker/k8s/secret.env"))
}

// TestK8sKustomizeBuild renders the base with the real kustomize (kubectl kustomize)
// when kubectl is installed, and checks the generated names are wired through.
func TestK8sKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed; the manifests are still checked by the other TestK8s tests")
	}
	dir := t.TempDir()
	entries, err := os.ReadDir(k8sDir)
	require.NoError(t, err)
	for _, e := range entries {
		if e.IsDir() || e.Name() == "secret.env" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(k8sDir, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644))
	}
	// secret.env is the operator's; render with the example instead.
	b, err := os.ReadFile(filepath.Join(k8sDir, "secret.env.example"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.env"), b, 0o600))
	if _, err := os.Stat(filepath.Join(dir, "ahacc.yaml")); err != nil {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "ahacc.yaml"), []byte("# placeholder\n"), 0o644))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kubectl, "kustomize", dir).CombinedOutput()
	require.NoError(t, err, string(out))

	kinds := map[string][]string{}
	var deployments []appsv1.Deployment
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(out), -1) {
		var obj struct {
			metav1.TypeMeta   `json:",inline"`
			metav1.ObjectMeta `json:"metadata"`
		}
		require.NoError(t, sigsyaml.Unmarshal([]byte(doc), &obj))
		kinds[obj.Kind] = append(kinds[obj.Kind], obj.Name)
		if obj.Kind != "Namespace" {
			assert.Equalf(t, "ahacc", obj.Namespace, "%s/%s", obj.Kind, obj.Name)
		}
		if obj.Kind == "Deployment" {
			var d appsv1.Deployment
			require.NoError(t, sigsyaml.UnmarshalStrict([]byte(doc), &d))
			deployments = append(deployments, d)
		}
	}
	for _, k := range []string{"Namespace", "ConfigMap", "Secret", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} {
		assert.NotEmptyf(t, kinds[k], "rendered output has no %s", k)
	}
	// Generated objects get a content hash suffix, and the Deployments point at it.
	generated := append(append([]string{}, kinds["ConfigMap"]...), kinds["Secret"]...)
	require.Len(t, deployments, 2)
	for _, d := range deployments {
		assert.Equal(t, "ahacc", d.Spec.Template.Labels["app.kubernetes.io/part-of"])
		assert.NotContains(t, d.Spec.Selector.MatchLabels, "app.kubernetes.io/part-of")
		c := d.Spec.Template.Spec.Containers[0]
		assert.Regexp(t, `^ahacc/(worker|starter):dev$`, c.Image)
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				assert.Contains(t, generated, e.ValueFrom.SecretKeyRef.Name)
			}
		}
		assert.Contains(t, generated, c.EnvFrom[0].ConfigMapRef.Name)
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.ConfigMap != nil {
				assert.True(t, slices.Contains(generated, v.ConfigMap.Name), v.ConfigMap.Name)
			}
		}
	}
}
