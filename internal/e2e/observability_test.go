package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metricsql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// liveSeries reads a /metrics page: each metric name with the label names its
// series carry, and the label values seen per name and label.
type liveSeries map[string]map[string]map[string]bool

var seriesLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? `)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func scrapeSeries(t *testing.T, url string) liveSeries {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	out := liveSeries{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := seriesLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		labels := out[m[1]]
		if labels == nil {
			labels = map[string]map[string]bool{}
			out[m[1]] = labels
		}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			if labels[p[1]] == nil {
				labels[p[1]] = map[string]bool{}
			}
			labels[p[1]][p[2]] = true
		}
	}
	return out
}

// observabilityExprs are every PromQL expression in docker/observability:
// the alerting rules and the Grafana dashboard's panel targets.
func observabilityExprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			}
		}
	}
	b, err := os.ReadFile(repoFile("docker", "observability", "alerts.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(b, &rules), "alerts.yaml: Prometheus rule-file fields only")
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Labels["severity"], "alert %s has a severity", r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], "alert %s has a summary", r.Alert)
			out["alert "+r.Alert] = r.Expr
		}
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	b, err = os.ReadFile(repoFile("docker", "observability", "grafana-dashboard.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &dash), "grafana-dashboard.json")
	for _, p := range dash.Panels {
		for i, tg := range p.Targets {
			out["panel "+p.Title+" #"+string(rune('A'+i))] = tg.Expr
		}
	}
	return out
}

// checkObservability parses every alert and dashboard expression and fails
// on a metric name, or a label name on it, that the live /metrics lacks.
func checkObservability(t *testing.T, live liveSeries) {
	t.Helper()
	exprs := observabilityExprs(t)
	require.GreaterOrEqual(t, len(exprs), 6, "six alerts at least, and the dashboard")
	grafana := strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h")
	for where, expr := range exprs {
		e, err := metricsql.Parse(grafana.Replace(expr))
		if !assert.NoError(t, err, "%s: %s", where, expr) {
			continue
		}
		metricsql.VisitAll(e, func(x metricsql.Expr) {
			me, ok := x.(*metricsql.MetricExpr)
			if !ok {
				return
			}
			for _, group := range me.LabelFilterss {
				var name string
				for _, f := range group {
					if f.Label == "__name__" {
						name = f.Value
					}
				}
				labels, exported := live[name]
				if !assert.True(t, exported, "%s names %q, which /metrics does not export", where, name) {
					continue
				}
				for _, f := range group {
					if f.Label == "__name__" {
						continue
					}
					assert.Contains(t, labels, f.Label, "%s: %s has no label %q", where, name, f.Label)
					if f.Label == "workflow_type" {
						assert.True(t, labels[f.Label][f.Value], "%s: no %s{%s=%q} series", where, name, f.Label, f.Value)
					}
				}
			}
		})
	}
}
