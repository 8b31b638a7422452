package firestorestore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/aiprod/aiprod/pkg/errclass"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want error // nil: unclassified
	}{
		{status.Error(codes.NotFound, "x"), errclass.NotFound},
		{status.Error(codes.AlreadyExists, "x"), errclass.Conflict},
		{status.Error(codes.Aborted, "x"), errclass.Conflict},
		{status.Error(codes.FailedPrecondition, "x"), errclass.Conflict},
		{status.Error(codes.InvalidArgument, "x"), errclass.Permanent},
		{status.Error(codes.Unavailable, "x"), errclass.Retryable},
		{status.Error(codes.DeadlineExceeded, "x"), errclass.Retryable},
		{status.Error(codes.ResourceExhausted, "x"), errclass.Retryable},
		{status.Error(codes.Internal, "x"), errclass.Retryable},
		{fmt.Errorf("wrapped: %w", status.Error(codes.Unavailable, "x")), errclass.Retryable},
		{context.DeadlineExceeded, errclass.Retryable},
		{errclass.New(errclass.Budget, "already classified"), errclass.Budget},
		{errors.New("firestore: cannot encode"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			t.Parallel()
			got := classify(tt.err, "op %s", "x")
			require.ErrorIs(t, got, tt.err, "the cause is kept")
			require.Contains(t, got.Error(), "op x")
			require.Equal(t, tt.want, errclass.Of(got))
			require.Equal(t, status.Code(tt.err), status.Code(got), "the gRPC code stays visible (the client retries Aborted)")
		})
	}
	require.NoError(t, classify(nil, "nothing"))
}
