package activities

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIntegrationValue(t *testing.T) {
	rec := []byte(`{"integration_fields":[{"name":"id","value":"777","integration_id":204584239},{"name":"centercode_feedback_id","value":"4821"},{"name":"n","value":42}]}`)
	require.Equal(t, "4821", integrationValue(rec, "centercode_feedback_id"))
	require.Equal(t, "42", integrationValue(rec, "n"))
	require.Equal(t, "", integrationValue(rec, "missing"))
	require.Equal(t, "", integrationValue(rec, ""))
	require.Equal(t, "", integrationValue([]byte(`not json`), "id"))
}
