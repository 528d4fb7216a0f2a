package activities

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/mapping"
)

func TestIntegrationValue(t *testing.T) {
	rec := []byte(`{"integration_fields":[{"name":"id","value":"777","integration_id":204584239},{"name":"centercode_feedback_id","value":"4821"},{"name":"n","value":42}]}`)
	require.Equal(t, "4821", integrationValue(rec, "centercode_feedback_id"))
	require.Equal(t, "42", integrationValue(rec, "n"))
	require.Equal(t, "", integrationValue(rec, "missing"))
	require.Equal(t, "", integrationValue(rec, ""))
	require.Equal(t, "", integrationValue([]byte(`not json`), "id"))
}

func TestIntegrationValueFromCustomField(t *testing.T) {
	// The macro's create body stamps the id in a custom field atomically with the create.
	rec := []byte(`{"integration_fields":[],"custom_fields":[{"key":"centercode_feedback_id","value":"77"},{"key":"empty","value":null}]}`)
	require.Equal(t, "77", integrationValue(rec, "centercode_feedback_id"))
	require.Equal(t, "", integrationValue(rec, "empty"))
	// An integration field wins over a custom field.
	rec = []byte(`{"integration_fields":[{"name":"k","value":"1"}],"custom_fields":[{"key":"k","value":"2"}]}`)
	require.Equal(t, "1", integrationValue(rec, "k"))
}

func TestMapRecordCarriesFromAhaStatus(t *testing.T) {
	cfg, err := mapping.LoadFileWithOptions(filepath.Join("..", "examples", "ahacc.yaml"), mapping.LoadOptions{AllowUnsetEnv: true,
		LookupEnv: func(string) (string, bool) { return "", false }})
	require.NoError(t, err)
	a := New(Deps{Configs: NewConfigStore(cfg)})
	rec := []byte(`{"id":"1","reference_num":"PRJ1-I-1","name":"x","workflow_status":{"name":"Shipped"}}`)
	m, err := a.MapRecord(context.Background(), MapRequest{FeedbackType: "bugs", Record: rec})
	require.NoError(t, err)
	require.Equal(t, "Fixed", m.CentercodeStatus, "status_rules.from_aha: Shipped → Fixed")
	rec = []byte(`{"id":"1","reference_num":"PRJ1-I-1","name":"x","workflow_status":{"name":"New"}}`)
	m, err = a.MapRecord(context.Background(), MapRequest{FeedbackType: "bugs", Record: rec})
	require.NoError(t, err)
	require.Empty(t, m.CentercodeStatus)
}
