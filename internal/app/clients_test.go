package app

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"
)

// A process started while the frontend is away waits for it; one whose
// credentials Temporal refuses exits at once instead of waiting forever.
func TestWaitForTemporal(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tc := &mocks.Client{}
	tc.On("CheckHealth", mock.Anything, mock.Anything).Return(nil, serviceerror.NewUnavailable("connection refused")).Twice()
	tc.On("CheckHealth", mock.Anything, mock.Anything).Return(&client.CheckHealthResponse{}, nil).Once()
	require.NoError(t, WaitForTemporal(context.Background(), tc, quiet))
	tc.AssertNumberOfCalls(t, "CheckHealth", 3)

	tc = &mocks.Client{}
	tc.On("CheckHealth", mock.Anything, mock.Anything).Return(nil, serviceerror.NewPermissionDenied("bad API key", "")).Once()
	start := time.Now()
	require.ErrorContains(t, WaitForTemporal(context.Background(), tc, quiet), "refused")
	require.Less(t, time.Since(start), time.Second)

	tc = &mocks.Client{}
	tc.On("CheckHealth", mock.Anything, mock.Anything).Return(nil, serviceerror.NewUnavailable("connection refused"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, WaitForTemporal(ctx, tc, quiet), context.DeadlineExceeded)
}
