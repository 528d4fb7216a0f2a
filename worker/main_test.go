package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/mocks"
)

// The worker's /readyz, like the starter's, names states only.
func TestWorkerReadyzHidesErrorText(t *testing.T) {
	tc := &mocks.Client{}
	tc.On("CheckHealth", mock.Anything, mock.Anything).Return(nil, errors.New("dial tcp 10.1.2.3:7233: connection refused"))
	rec := httptest.NewRecorder()
	healthMux(tc, http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.JSONEq(t, `{"status":"unavailable","temporal":"unreachable"}`, rec.Body.String())
}
