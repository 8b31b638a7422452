package pubsubemu

import (
	"context"
	"maps"
	"slices"
	"strings"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// publisherServer serves google.pubsub.v1.Publisher: topics and Publish.
// Methods the emulator does not implement (UpdateTopic, snapshots,
// DetachSubscription) answer Unimplemented.
type publisherServer struct {
	pubsubpb.UnimplementedPublisherServer
	st *state
}

// subscriberServer serves google.pubsub.v1.Subscriber: subscriptions and
// delivery. Methods the emulator does not implement (ModifyPushConfig,
// snapshots, Seek) answer Unimplemented.
type subscriberServer struct {
	pubsubpb.UnimplementedSubscriberServer
	st *state
}

// deletedTopic is what Pub/Sub shows as the topic of a subscription whose
// topic was deleted.
const deletedTopic = "_deleted-topic_"

func (g *publisherServer) CreateTopic(_ context.Context, req *pubsubpb.Topic) (*pubsubpb.Topic, error) {
	if _, err := checkName(req.GetName(), "topics"); err != nil {
		return nil, err
	}
	if req.GetSchemaSettings() != nil || req.GetIngestionDataSourceSettings() != nil || len(req.GetMessageTransforms()) > 0 {
		return nil, status.Error(codes.Unimplemented, "the AIPROD Pub/Sub emulator does not implement schemas, ingestion or message transforms")
	}
	p := proto.Clone(req).(*pubsubpb.Topic)
	p.State = pubsubpb.Topic_ACTIVE
	g.st.mu.Lock()
	defer g.st.mu.Unlock()
	if g.st.topics[p.Name] != nil {
		return nil, status.Errorf(codes.AlreadyExists, "topic %s already exists", p.Name)
	}
	g.st.topics[p.Name] = &topic{proto: p}
	return proto.Clone(p).(*pubsubpb.Topic), nil
}

func (g *publisherServer) GetTopic(_ context.Context, req *pubsubpb.GetTopicRequest) (*pubsubpb.Topic, error) {
	t := g.st.topic(req.GetTopic())
	if t == nil {
		return nil, status.Errorf(codes.NotFound, "topic %s not found", req.GetTopic())
	}
	return proto.Clone(t.proto).(*pubsubpb.Topic), nil
}

func (g *publisherServer) ListTopics(_ context.Context, req *pubsubpb.ListTopicsRequest) (*pubsubpb.ListTopicsResponse, error) {
	prefix, err := checkProject(req.GetProject())
	if err != nil {
		return nil, err
	}
	g.st.mu.RLock()
	all := slices.Collect(maps.Keys(g.st.topics))
	g.st.mu.RUnlock()
	names, next := listPage(all, prefix+"topics/", req.GetPageSize(), req.GetPageToken())
	res := &pubsubpb.ListTopicsResponse{NextPageToken: next}
	for _, n := range names {
		if t := g.st.topic(n); t != nil {
			res.Topics = append(res.Topics, proto.Clone(t.proto).(*pubsubpb.Topic))
		}
	}
	return res, nil
}

func (g *publisherServer) ListTopicSubscriptions(_ context.Context, req *pubsubpb.ListTopicSubscriptionsRequest) (*pubsubpb.ListTopicSubscriptionsResponse, error) {
	t := g.st.topic(req.GetTopic())
	if t == nil {
		return nil, status.Errorf(codes.NotFound, "topic %s not found", req.GetTopic())
	}
	var all []string
	for _, s := range t.subscriptions() {
		all = append(all, s.name)
	}
	names, next := listPage(all, "", req.GetPageSize(), req.GetPageToken())
	return &pubsubpb.ListTopicSubscriptionsResponse{Subscriptions: names, NextPageToken: next}, nil
}

// DeleteTopic removes a topic; its subscriptions stay, with topic
// "_deleted-topic_" and what they hold, as on Pub/Sub.
func (g *publisherServer) DeleteTopic(_ context.Context, req *pubsubpb.DeleteTopicRequest) (*emptypb.Empty, error) {
	g.st.mu.Lock()
	t := g.st.topics[req.GetTopic()]
	delete(g.st.topics, req.GetTopic())
	g.st.mu.Unlock()
	if t == nil {
		return nil, status.Errorf(codes.NotFound, "topic %s not found", req.GetTopic())
	}
	for _, s := range t.subscriptions() {
		t.detach(s)
		s.mu.Lock()
		s.proto.Topic = deletedTopic
		s.mu.Unlock()
	}
	return &emptypb.Empty{}, nil
}

func (g *subscriberServer) CreateSubscription(_ context.Context, req *pubsubpb.Subscription) (*pubsubpb.Subscription, error) {
	if _, err := checkName(req.GetName(), "subscriptions"); err != nil {
		return nil, err
	}
	if _, err := checkName(req.GetTopic(), "topics"); err != nil {
		return nil, err
	}
	p := proto.Clone(req).(*pubsubpb.Subscription)
	cfg, err := normalize(p)
	if err != nil {
		return nil, err
	}
	g.st.mu.Lock()
	defer g.st.mu.Unlock()
	t := g.st.topics[p.Topic]
	switch {
	case t == nil:
		return nil, status.Errorf(codes.NotFound, "topic %s not found", p.Topic)
	case cfg.deadLetterTopic != "" && g.st.topics[cfg.deadLetterTopic] == nil:
		return nil, status.Errorf(codes.NotFound, "dead-letter topic %s not found", cfg.deadLetterTopic)
	case g.st.subs[p.Name] != nil:
		return nil, status.Errorf(codes.AlreadyExists, "subscription %s already exists", p.Name)
	case g.st.closed:
		return nil, status.Error(codes.Unavailable, "the emulator is closing")
	}
	s := newSubscription(g.st, t, p, cfg)
	g.st.subs[p.Name] = s
	t.attach(s)
	return proto.Clone(p).(*pubsubpb.Subscription), nil
}

func (g *subscriberServer) GetSubscription(_ context.Context, req *pubsubpb.GetSubscriptionRequest) (*pubsubpb.Subscription, error) {
	s, err := g.st.subscription(req.GetSubscription())
	if err != nil {
		return nil, err
	}
	return s.snapshot(), nil
}

// updatable are the fields UpdateSubscription changes.
var updatable = map[string]func(dst, src *pubsubpb.Subscription){
	"ack_deadline_seconds":       func(d, s *pubsubpb.Subscription) { d.AckDeadlineSeconds = s.AckDeadlineSeconds },
	"message_retention_duration": func(d, s *pubsubpb.Subscription) { d.MessageRetentionDuration = s.MessageRetentionDuration },
	"dead_letter_policy":         func(d, s *pubsubpb.Subscription) { d.DeadLetterPolicy = s.DeadLetterPolicy },
	"retry_policy":               func(d, s *pubsubpb.Subscription) { d.RetryPolicy = s.RetryPolicy },
	"labels":                     func(d, s *pubsubpb.Subscription) { d.Labels = s.Labels },
	"expiration_policy":          func(d, s *pubsubpb.Subscription) { d.ExpirationPolicy = s.ExpirationPolicy },
	"retain_acked_messages":      func(d, s *pubsubpb.Subscription) { d.RetainAckedMessages = s.RetainAckedMessages },
	"push_config":                func(d, s *pubsubpb.Subscription) { d.PushConfig = s.PushConfig },
}

// UpdateSubscription changes the fields of update_mask. A new ack deadline
// applies to later deliveries, a new retention to later messages.
func (g *subscriberServer) UpdateSubscription(_ context.Context, req *pubsubpb.UpdateSubscriptionRequest) (*pubsubpb.Subscription, error) {
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		return nil, status.Error(codes.InvalidArgument, "update_mask is empty")
	}
	s, err := g.st.subscription(req.GetSubscription().GetName())
	if err != nil {
		return nil, err
	}
	p := s.snapshot()
	src := proto.Clone(req.GetSubscription()).(*pubsubpb.Subscription)
	for _, path := range paths {
		set := updatable[path]
		if set == nil {
			return nil, status.Errorf(codes.InvalidArgument, "cannot update %q (updatable: %s)", path, strings.Join(updatableNames(), ", "))
		}
		set(p, src)
	}
	cfg, err := normalize(p)
	if err != nil {
		return nil, err
	}
	if cfg.deadLetterTopic != "" && g.st.topic(cfg.deadLetterTopic) == nil {
		return nil, status.Errorf(codes.NotFound, "dead-letter topic %s not found", cfg.deadLetterTopic)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		return nil, s.notFound()
	}
	p.Topic = s.proto.Topic
	s.proto, s.cfg = p, cfg
	return proto.Clone(p).(*pubsubpb.Subscription), nil
}

func updatableNames() []string { return slices.Sorted(maps.Keys(updatable)) }

func (g *subscriberServer) ListSubscriptions(_ context.Context, req *pubsubpb.ListSubscriptionsRequest) (*pubsubpb.ListSubscriptionsResponse, error) {
	prefix, err := checkProject(req.GetProject())
	if err != nil {
		return nil, err
	}
	g.st.mu.RLock()
	all := slices.Collect(maps.Keys(g.st.subs))
	g.st.mu.RUnlock()
	names, next := listPage(all, prefix+"subscriptions/", req.GetPageSize(), req.GetPageToken())
	res := &pubsubpb.ListSubscriptionsResponse{NextPageToken: next}
	for _, n := range names {
		if s, err := g.st.subscription(n); err == nil {
			res.Subscriptions = append(res.Subscriptions, s.snapshot())
		}
	}
	return res, nil
}

// DeleteSubscription removes a subscription and what it holds; its open
// streams end with NotFound.
func (g *subscriberServer) DeleteSubscription(_ context.Context, req *pubsubpb.DeleteSubscriptionRequest) (*emptypb.Empty, error) {
	g.st.mu.Lock()
	s := g.st.subs[req.GetSubscription()]
	delete(g.st.subs, req.GetSubscription())
	g.st.mu.Unlock()
	if s == nil {
		return nil, status.Errorf(codes.NotFound, "subscription %s not found", req.GetSubscription())
	}
	s.topic.detach(s)
	s.close()
	return &emptypb.Empty{}, nil
}
