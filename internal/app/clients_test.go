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

// againUntilDone tries again until it succeeds, or stops when told.
func TestAgainUntilDone(t *testing.T) {
	n := 0
	againUntilDone(make(chan struct{}), time.Millisecond, 4*time.Millisecond, func() error {
		if n++; n < 4 {
			return context.DeadlineExceeded
		}
		return nil
	})
	require.Equal(t, 4, n)

	done := make(chan struct{})
	close(done)
	n = 0
	againUntilDone(done, time.Hour, time.Hour, func() error { n++; return context.DeadlineExceeded })
	require.Zero(t, n, "stopped before trying")
}
