package gcppubsub

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"cloud.google.com/go/pubsub/v2"
	"github.com/stretchr/testify/assert"
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
		{status.Error(codes.NotFound, "topic"), errclass.NotFound},
		{status.Error(codes.AlreadyExists, "sub"), errclass.Conflict},
		{status.Error(codes.InvalidArgument, "bad"), errclass.Permanent},
		{status.Error(codes.FailedPrecondition, "bad"), errclass.Permanent},
		{status.Error(codes.OutOfRange, "bad"), errclass.Permanent},
		{status.Error(codes.Unimplemented, "bad"), errclass.Permanent},
		{status.Error(codes.Unauthenticated, "who"), errclass.Unauthenticated},
		{status.Error(codes.PermissionDenied, "no"), errclass.Unauthenticated},
		{status.Error(codes.Unavailable, "down"), errclass.Retryable},
		{status.Error(codes.DeadlineExceeded, "slow"), errclass.Retryable},
		{status.Error(codes.ResourceExhausted, "quota"), errclass.Retryable},
		{status.Error(codes.Aborted, "race"), errclass.Retryable},
		{status.Error(codes.Internal, "oops"), errclass.Retryable},
		{status.Error(codes.Canceled, "gone"), errclass.Retryable},
		{fmt.Errorf("wrapped: %w", status.Error(codes.NotFound, "topic")), errclass.NotFound},
		{context.DeadlineExceeded, errclass.Retryable},
		{fmt.Errorf("get: %w", context.Canceled), errclass.Retryable},
		{pubsub.ErrOversizedMessage, errclass.Permanent},
		{pubsub.ErrPublisherStopped, errclass.Permanent},
		{status.Error(codes.Unknown, "?"), nil},
		{errors.New("plain"), nil},
	}
	for _, tt := range tests {
		got := classify(tt.err, "op")
		assert.ErrorIs(t, got, tt.err, "cause kept for %v", tt.err)
		assert.Equal(t, tt.want, errclass.Of(got), "class of %v", tt.err)
		assert.Contains(t, got.Error(), "op: ")
	}
	assert.NoError(t, classify(nil, "op"))
}
