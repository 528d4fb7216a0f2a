package activities

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ahacc/ahacc/internal/centercode"
)

// Only the documented unknown-user answer (404 naming the email element,
// Assumption 4) skips a person; any other 404 — a wrong listener URL above
// all — parks with Centercode's own words instead of dropping everyone's data.
func TestUserDataListener404(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		skipped    bool
	}{
		{"unknown user", `{"error":"not_found","message":"no user with this email","element":"email"}`, true},
		{"unknown listener", `{"error":"not_found","message":"unknown listener"}`, false},
		{"a 404 naming nothing", `<html>Not Found</html>`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			cfg := mcConfig(t, map[string]string{"CC_USER_DATA_LISTENER_URL": srv.URL + "/l?apiKey=k"})
			acts := New(cfg, nil, centercode.New(), slog.New(slog.NewTextHandler(io.Discard, nil)))
			v, err := mcEnv(acts).ExecuteActivity(acts.PostUserData, PostUserDataRequest{Email: "ada@example.com", Body: []byte(`{"email":"ada@example.com"}`)})
			if tt.skipped {
				require.NoError(t, err)
				var res PostUserDataResult
				require.NoError(t, v.Get(&res))
				assert.True(t, res.UnknownUser)
				return
			}
			ae := appErr(t, err)
			assert.True(t, ae.NonRetryable(), "parks")
			assert.Contains(t, ae.Message(), "404")
		})
	}
}
