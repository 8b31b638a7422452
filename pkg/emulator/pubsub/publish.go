package pubsubemu

import (
	"context"
	"strings"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Pub/Sub's limits on a publish request.
const (
	publishMaxMessages = 1000
	publishMaxBytes    = 10 << 20
	attrKeyMaxBytes    = 256
	attrValueMaxBytes  = 1024
)

// Publish holds the request's messages in every subscription the topic has
// and returns their ids, in order.
func (g *publisherServer) Publish(_ context.Context, req *pubsubpb.PublishRequest) (*pubsubpb.PublishResponse, error) {
	t := g.st.topic(req.GetTopic())
	if t == nil {
		return nil, status.Errorf(codes.NotFound, "topic %s not found", req.GetTopic())
	}
	msgs := req.GetMessages()
	if err := checkMessages(msgs); err != nil {
		return nil, err
	}
	out := make([]*pubsubpb.PubsubMessage, len(msgs))
	for i, m := range msgs {
		out[i] = &pubsubpb.PubsubMessage{Data: m.GetData(), Attributes: m.GetAttributes(), OrderingKey: m.GetOrderingKey()}
	}
	return &pubsubpb.PublishResponse{MessageIds: g.st.publish(t, out)}, nil
}

// checkMessages applies Pub/Sub's rules for published messages.
func checkMessages(msgs []*pubsubpb.PubsubMessage) error {
	if len(msgs) == 0 || len(msgs) > publishMaxMessages {
		return status.Errorf(codes.InvalidArgument, "a publish request carries 1 to %d messages, not %d", publishMaxMessages, len(msgs))
	}
	total := 0
	for i, m := range msgs {
		if len(m.GetData()) == 0 && len(m.GetAttributes()) == 0 {
			return status.Errorf(codes.InvalidArgument, "message %d has neither data nor attributes", i)
		}
		if m.GetOrderingKey() != "" {
			return status.Error(codes.Unimplemented, "the AIPROD Pub/Sub emulator does not implement ordering keys")
		}
		total += len(m.GetData())
		for k, v := range m.GetAttributes() {
			switch {
			case k == "" || len(k) > attrKeyMaxBytes || strings.HasPrefix(k, "goog"):
				return status.Errorf(codes.InvalidArgument, "message %d: invalid attribute key %q", i, k)
			case len(v) > attrValueMaxBytes:
				return status.Errorf(codes.InvalidArgument, "message %d: attribute %q is over %d bytes", i, k, attrValueMaxBytes)
			}
			total += len(k) + len(v)
		}
	}
	if total > publishMaxBytes {
		return status.Errorf(codes.InvalidArgument, "a publish request carries at most %d bytes, not %d", publishMaxBytes, total)
	}
	return nil
}
