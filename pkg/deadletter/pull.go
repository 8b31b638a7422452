package deadletter

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/aiprod/aiprod/pkg/errclass"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/queue/gcppubsub"
)

// settleTimeout bounds the Acknowledge and ModifyAckDeadline calls of
// pullScan, which are made even when the caller's ctx is done so that held
// messages are released at once rather than when their lease expires.
const settleTimeout = 10 * time.Second

// holdSeconds is the lease pullScan takes on what it pulls, whatever the
// subscription's ack deadline (which may be as short as 10s).
const holdSeconds = 120

// pulled is one message pullScan received.
type pulled struct {
	ackID   string
	settled bool
}

// pullScan is scan over Pub/Sub's unary Pull, through the client that
// gcppubsub.Queue exposes. Unlike a streaming pull it never has messages
// in flight to a stream that is going away: what a Pull returned is
// collected (or nacked at once), and what it did not return stays on the
// subscription, so listings are exact up to Pub/Sub's own at-least-once
// (an Acknowledge can still be lost, and then a replayed message is
// listed, and may be replayed, again).
//
// Each Pull asks for the messages still wanted and waits at most wait; an
// empty answer or the wait running out ends the pulling. Pulled messages
// get a lease of holdSeconds at once; then's acks and the nacks of the
// rest are sent with Acknowledge and ModifyAckDeadline 0.
func pullScan(ctx context.Context, q *gcppubsub.Queue, subscription string, max int, wait time.Duration, collect collectFunc, then thenFunc) error {
	c := q.Client()
	admin := c.SubscriptionAdminClient
	name := subscription
	if !strings.HasPrefix(name, "projects/") {
		name = "projects/" + c.Project() + "/subscriptions/" + subscription
	}

	var (
		mu    sync.Mutex
		acks  []string
		nacks []string
	)
	settle := func(p *pulled, ack bool) {
		mu.Lock()
		defer mu.Unlock()
		if p.settled {
			return
		}
		p.settled = true
		if ack {
			acks = append(acks, p.ackID)
		} else {
			nacks = append(nacks, p.ackID)
		}
	}
	// settleCtx bounds one settling call; it outlives ctx.
	settleCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	}
	// flush sends the acks and nacks collected so far.
	flush := func() error {
		mu.Lock()
		a, n := acks, nacks
		acks, nacks = nil, nil
		mu.Unlock()
		sctx, cancel := settleCtx()
		defer cancel()
		var errs []error
		if len(a) > 0 {
			if err := admin.Acknowledge(sctx, &pubsubpb.AcknowledgeRequest{Subscription: name, AckIds: a}); err != nil {
				errs = append(errs, pullError(err, "deadletter: acknowledge on "+subscription))
			}
		}
		if len(n) > 0 {
			if err := admin.ModifyAckDeadline(sctx, &pubsubpb.ModifyAckDeadlineRequest{
				Subscription: name, AckIds: n, AckDeadlineSeconds: 0,
			}); err != nil {
				errs = append(errs, pullError(err, "deadletter: nack on "+subscription))
			}
		}
		return errors.Join(errs...)
	}

	seen := map[string]bool{}
	var (
		held      []*pulled
		pullErr   error
		settleErr []error
	)
	for stop := false; len(held) < max && !stop && ctx.Err() == nil; {
		pctx, cancelPull := context.WithTimeout(ctx, wait)
		resp, err := admin.Pull(pctx, &pubsubpb.PullRequest{Subscription: name, MaxMessages: int32(max - len(held))})
		idle := pctx.Err() != nil && ctx.Err() == nil
		cancelPull()
		if err != nil {
			if !idle && ctx.Err() == nil {
				pullErr = pullError(err, "deadletter: pull from "+subscription)
			}
			break
		}
		if len(resp.GetReceivedMessages()) == 0 {
			break
		}
		var hold []string
		for _, rm := range resp.GetReceivedMessages() {
			p := &pulled{ackID: rm.GetAckId()}
			pm := rm.GetMessage()
			if stop || seen[pm.GetMessageId()] || len(held) >= max {
				settle(p, false) // a duplicate delivery, or one past the end
				continue
			}
			seen[pm.GetMessageId()] = true
			held = append(held, p)
			hold = append(hold, p.ackID)
			stop = collect(queue.NewReceived(queue.Message{
				ID:              pm.GetMessageId(),
				Data:            pm.GetData(),
				Attributes:      pm.GetAttributes(),
				PublishTime:     pm.GetPublishTime().AsTime(),
				DeliveryAttempt: int(rm.GetDeliveryAttempt()),
			}, func() { settle(p, true) }, func() { settle(p, false) }))
		}
		if len(hold) > 0 {
			sctx, cancel := settleCtx()
			if err := admin.ModifyAckDeadline(sctx, &pubsubpb.ModifyAckDeadlineRequest{
				Subscription: name, AckIds: hold, AckDeadlineSeconds: holdSeconds,
			}); err != nil {
				settleErr = append(settleErr, pullError(err, "deadletter: extend leases on "+subscription))
			}
			cancel()
		}
		if err := flush(); err != nil {
			settleErr = append(settleErr, err)
		}
	}

	var thenErr error
	if pullErr == nil {
		thenErr = then(ctx)
	}
	// Release everything then did not settle.
	for _, p := range held {
		settle(p, false)
	}
	if err := flush(); err != nil {
		settleErr = append(settleErr, err)
	}

	switch {
	case thenErr != nil:
		return errors.Join(append([]error{thenErr}, settleErr...)...)
	case pullErr != nil:
		return errors.Join(append([]error{pullErr}, settleErr...)...)
	case len(settleErr) > 0:
		return errors.Join(settleErr...)
	case ctx.Err() != nil:
		return errclass.Wrap(errclass.Retryable, ctx.Err(), "deadletter: "+subscription)
	}
	return nil
}

// pullError classifies an error of the Pub/Sub admin client by its gRPC
// code, as gcppubsub does for the port's calls.
func pullError(err error, msg string) error {
	var class error
	switch status.Code(err) {
	case codes.NotFound:
		class = errclass.NotFound
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange, codes.Unimplemented:
		class = errclass.Permanent
	case codes.Unauthenticated, codes.PermissionDenied:
		class = errclass.Unauthenticated
	default:
		class = errclass.Retryable
	}
	return errclass.Wrap(class, err, msg)
}
