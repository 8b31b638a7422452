package client

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/telemetry"
)

// Publish sends a job request straight to the aiprod-jobs topic, for
// upstream systems with IAM access to it. The router creates the job; its id
// is the UUIDv5 of the project and idempotencyKey, or of the Pub/Sub message
// id when idempotencyKey is empty. The request is validated here first, so
// a bad one fails now instead of on the dead-letter topic.
func Publish(ctx context.Context, pub queue.Publisher, projectID string, req JobRequest, idempotencyKey string) (string, error) {
	if !job.ValidProjectID(projectID) {
		return "", fmt.Errorf("publish job request: project %q is not a project id (%s)", projectID, job.ProjectIDPattern)
	}
	req.ApplyDefaults()
	if err := req.Validate(); err != nil {
		return "", err
	}
	data, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	attrs := map[string]string{queue.AttrProjectID: projectID}
	if idempotencyKey != "" {
		attrs[queue.AttrIdempotencyKey] = idempotencyKey
	}
	ctx, span, attrs := telemetry.StartProducer(ctx, queue.TopicJobs, attrs)
	defer span.End()
	id, err := pub.Publish(ctx, queue.TopicJobs, queue.Message{Data: data, Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("publish job request for project %s: %w", projectID, err)
	}
	return id, nil
}
