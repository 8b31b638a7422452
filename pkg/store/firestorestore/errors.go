package firestorestore

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/aiprod/aiprod/pkg/errclass"
)

// classify maps an error of the Firestore client to an errclass class,
// keeping err as the cause (so status.Code still sees the gRPC code). It is
// the one place where gRPC codes become classes. Errors it cannot classify
// (client-side encoding errors, unexpected codes) are wrapped without a
// class; callers treat those as retryable.
func classify(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	if class := classOf(err); class != nil {
		return errclass.Wrap(class, err, msg)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// classOf returns the class of a Firestore client error, or nil.
func classOf(err error) error {
	if c := errclass.Of(err); c != nil {
		return c // already classified, by this package or by fn
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.NotFound:
			return errclass.NotFound
		case codes.AlreadyExists, codes.Aborted, codes.FailedPrecondition:
			// Aborted reaches us only after the client's own transaction
			// retries: a lost race, for the layer above to retry.
			return errclass.Conflict
		case codes.InvalidArgument, codes.OutOfRange:
			return errclass.Permanent
		case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Internal, codes.Canceled:
			return errclass.Retryable
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errclass.Retryable
	}
	return nil
}
