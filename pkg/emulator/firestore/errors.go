package firestoreemu

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The emulator answers with gRPC status errors, with the codes Firestore uses.

func invalidArgf(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func notFoundf(format string, args ...any) error {
	return status.Errorf(codes.NotFound, format, args...)
}

func alreadyExistsf(format string, args ...any) error {
	return status.Errorf(codes.AlreadyExists, format, args...)
}

func failedPreconditionf(format string, args ...any) error {
	return status.Errorf(codes.FailedPrecondition, format, args...)
}

func abortedf(format string, args ...any) error {
	return status.Errorf(codes.Aborted, format, args...)
}

// contextStatus converts a context error into the matching gRPC status.
func contextStatus(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	default:
		return status.Error(codes.Unknown, err.Error())
	}
}
