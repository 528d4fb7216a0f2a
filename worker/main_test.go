package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"
)

// The worker's /readyz, like the starter's, names states only.
func TestWorkerReadyzHidesErrorText(t *testing.T) {
	tc := &mocks.Client{}
	tc.On("CheckHealth", mock.Anything, mock.Anything).Return(nil, errors.New("dial tcp 10.1.2.3:7233: connection refused"))
	rec := httptest.NewRecorder()
	var polling atomic.Bool
	healthMux(tc, &polling, http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.JSONEq(t, `{"status":"unavailable","temporal":"unreachable"}`, rec.Body.String())
}

// Ready means polling: Temporal answering is not enough before the worker
// has started.
func TestWorkerReadyOnlyOncePolling(t *testing.T) {
	tc := &mocks.Client{}
	tc.On("CheckHealth", mock.Anything, mock.Anything).Return(&client.CheckHealthResponse{}, nil)
	var polling atomic.Bool
	mux := healthMux(tc, &polling, http.NotFoundHandler())
	for _, want := range []struct {
		polling bool
		code    int
		body    string
	}{{false, http.StatusServiceUnavailable, `{"status":"starting","temporal":"ok"}`}, {true, http.StatusOK, `{"status":"ready","temporal":"ok"}`}} {
		polling.Store(want.polling)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		require.Equal(t, want.code, rec.Code)
		require.JSONEq(t, want.body, rec.Body.String())
	}
}
