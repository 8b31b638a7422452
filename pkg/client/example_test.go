package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"time"

	"github.com/aiprod/aiprod/pkg/api"
	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/money"
	"github.com/aiprod/aiprod/pkg/queue"
	"github.com/aiprod/aiprod/pkg/store"
	"github.com/aiprod/aiprod/pkg/store/memstore"
)

// The examples talk to AIPROD's real HTTP API (package api) served by
// httptest over an in-memory store, with the API key "example-key" of
// project "demo" and the admin key "example-admin". Routing and
// generation are played by finisher.

// startAPI serves the API; stop closes it.
func startAPI() (url string, stop func()) {
	st := memstore.New()
	if err := api.SeedAPIKey(context.Background(), st, "example-key", "demo", time.Now()); err != nil {
		log.Fatal(err)
	}
	s, err := api.New(api.Config{Store: st, Queue: finisher{st}, Catalog: catalog.Default(), AdminKey: "example-admin",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	return srv.URL, srv.Close
}

// finisher is the queue the example API publishes to. It stands in for
// the router and a worker: a job published to aiprod-jobs is at once
// routed to runway and succeeds there for $0.25, with its timeline.
type finisher struct{ st store.Store }

func (f finisher) Publish(ctx context.Context, topic string, m queue.Message) (string, error) {
	if topic != queue.TopicJobs {
		return "1", nil
	}
	return "1", f.st.RunTx(ctx, func(tx store.Tx) error {
		j, err := tx.GetJob(m.Attributes[queue.AttrJobID])
		if err != nil || j.Status != job.StatusQueued {
			return err
		}
		// Routed a second after acceptance, generated in 30 s.
		routed, cost := j.CreatedAt.Add(time.Second), money.MustParse("0.25")
		done := routed.Add(30 * time.Second)
		j.Backend, j.EstimatedCost, j.Cost = "runway", cost, cost
		j.Attempts = append(j.Attempts, job.Attempt{Number: 1, Backend: "runway", Model: "gen4_turbo",
			Status: job.AttemptSucceeded, EstimatedCost: cost, Cost: cost, StartedAt: routed, EndedAt: &done})
		j.Result = &job.Result{VideoURL: "https://videos.example.com/" + j.ID + ".mp4", DurationSeconds: j.Request.DurationSeconds}
		for _, s := range []job.Status{job.StatusDispatched, job.StatusRunning, job.StatusSucceeded} {
			if err := j.Transition(s, done); err != nil {
				return err
			}
		}
		if err := tx.PutJob(j); err != nil {
			return err
		}
		if err := tx.AddEvent(j.ID, store.Event{At: routed, Stage: "router", Type: "dispatched", Backend: "runway", Attempt: 1}); err != nil {
			return err
		}
		return tx.AddEvent(j.ID, store.Event{At: done, Stage: "worker", Type: "succeeded", Backend: "runway", Attempt: 1})
	})
}

// demo starts the example API and submits one job to it.
func demo(prompt string) (c *client.Client, j *client.Job, stop func()) {
	url, stop := startAPI()
	c = client.New(url, "example-key")
	j, err := c.Submit(context.Background(), client.JobRequest{Prompt: prompt, DurationSeconds: 5}, client.SubmitOptions{})
	if err != nil {
		log.Fatal(err)
	}
	return c, j, stop
}

// Submit a job, wait for it to finish and fetch its video.
func Example() {
	url, stop := startAPI()
	defer stop()
	ctx := context.Background()
	c := client.New(url, "example-key")

	j, err := c.Submit(ctx, client.JobRequest{Prompt: "a red fox running through snow, cinematic", DurationSeconds: 5},
		client.SubmitOptions{IdempotencyKey: "order-42"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accepted:", j.Status, j.Request.Resolution, j.Request.AspectRatio, j.Request.QualityTier)

	j, err = c.Wait(ctx, j.ID, 100*time.Millisecond, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("finished:", j.Status, "on", j.Backend, "for", j.Cost.USD(), "USD")
	fmt.Println("video:", j.Result.VideoURL)
	// Output:
	// accepted: queued 720p 16:9 standard
	// finished: succeeded on runway for 0.25 USD
	// video: https://videos.example.com/adfe90a3-5791-5f64-a31f-08948201db1a.mp4
}

// The same Idempotency-Key gives the same job: a retried Submit never
// creates a second one.
func ExampleSubmitOptions() {
	url, stop := startAPI()
	defer stop()
	ctx := context.Background()
	c := client.New(url, "example-key")

	req := client.JobRequest{Prompt: "a lighthouse in a storm", DurationSeconds: 4}
	first, err := c.Submit(ctx, req, client.SubmitOptions{IdempotencyKey: "order-7"})
	if err != nil {
		log.Fatal(err)
	}
	again, err := c.Submit(ctx, req, client.SubmitOptions{IdempotencyKey: "order-7"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same job:", again.ID == first.ID)
	// Output:
	// same job: true
}

// Get a job; a job that is absent, or another project's, is a 404.
func ExampleClient_Get() {
	c, sub, stop := demo("a paper boat")
	defer stop()
	ctx := context.Background()

	j, err := c.Get(ctx, sub.ID)
	if err != nil {
		log.Fatal(err)
	}
	a := j.Attempts[0]
	fmt.Printf("%s: attempt %d on %s/%s %s, cost %s\n", j.Status, a.Number, a.Backend, a.Model, a.Status, a.Cost)

	_, err = c.Get(ctx, "5f0c6b2e-0000-4000-8000-000000000000")
	fmt.Println("unknown job is not found:", client.IsNotFound(err))
	// Output:
	// succeeded: attempt 1 on runway/gen4_turbo succeeded, cost $0.250000
	// unknown job is not found: true
}

// A request the API refuses is an *APIError naming the field at fault.
func ExampleAPIError() {
	url, stop := startAPI()
	defer stop()
	c := client.New(url, "example-key")

	_, err := c.Submit(context.Background(), client.JobRequest{Prompt: "a hummingbird", DurationSeconds: 90}, client.SubmitOptions{})
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, apiErr.Code, apiErr.Field)
	}
	// Output:
	// 400 invalid_request duration_seconds
}

// List the project's jobs, newest first, one page at a time.
func ExampleClient_List() {
	url, stop := startAPI()
	defer stop()
	ctx := context.Background()
	c := client.New(url, "example-key")
	for _, p := range []string{"first", "second", "third"} {
		if _, err := c.Submit(ctx, client.JobRequest{Prompt: p, DurationSeconds: 5}, client.SubmitOptions{}); err != nil {
			log.Fatal(err)
		}
	}

	token := ""
	for page := 1; ; page++ {
		list, err := c.List(ctx, client.StatusSucceeded, 2, token)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("page %d: %d jobs\n", page, len(list.Jobs))
		if token = list.NextPageToken; token == "" {
			break
		}
	}
	// Output:
	// page 1: 2 jobs
	// page 2: 1 jobs
}

// Search the project's jobs: the filters AND together.
func ExampleClient_ListJobs() {
	url, stop := startAPI()
	defer stop()
	ctx := context.Background()
	c := client.New(url, "example-key")
	start := time.Now()
	for _, user := range []string{"alice", "bob", "alice"} {
		if _, err := c.Submit(ctx, client.JobRequest{Prompt: "a fox", DurationSeconds: 5, UserID: user}, client.SubmitOptions{}); err != nil {
			log.Fatal(err)
		}
	}

	list, err := c.ListJobs(ctx, client.ListOptions{Status: client.StatusSucceeded, Backend: "runway",
		UserID: "alice", Since: start.Add(-time.Minute)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(list.Jobs), "jobs of alice on runway")

	// A bad filter names itself.
	_, err = c.ListJobs(ctx, client.ListOptions{Backend: "nope"})
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, apiErr.Field)
	}
	// Output:
	// 2 jobs of alice on runway
	// 400 backend
}

// Operators search every project's jobs with the admin key.
func ExampleClient_AdminListJobs() {
	url, stop := startAPI()
	defer stop()
	ctx := context.Background()
	if _, err := client.New(url, "example-key").Submit(ctx, client.JobRequest{Prompt: "a fox", DurationSeconds: 5}, client.SubmitOptions{}); err != nil {
		log.Fatal(err)
	}

	admin := client.New(url, "example-admin")
	list, err := admin.AdminListJobs(ctx, "", client.ListOptions{Status: client.StatusSucceeded})
	if err != nil {
		log.Fatal(err)
	}
	for _, j := range list.Jobs {
		fmt.Println(j.ProjectID, j.Status, j.Backend)
	}
	// Output:
	// demo succeeded runway
}

// A job's timeline: what each stage did, in order.
func ExampleClient_Events() {
	c, j, stop := demo("an astronaut on a red desert")
	defer stop()

	events, err := c.Events(context.Background(), j.ID)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range events {
		fmt.Printf("%-6s %-10s backend=%q attempt=%d\n", e.Stage, e.Type, e.Backend, e.Attempt)
	}
	// Output:
	// ingest accepted   backend="" attempt=0
	// router dispatched backend="runway" attempt=1
	// worker succeeded  backend="runway" attempt=1
}

// printer is a queue.Publisher that prints what it is sent.
type printer struct{}

func (printer) Publish(_ context.Context, topic string, m queue.Message) (string, error) {
	fmt.Println(topic, m.Attributes[queue.AttrProjectID], m.Attributes[queue.AttrIdempotencyKey])
	fmt.Println(string(m.Data))
	return "1", nil
}

// Publish a job request straight to the aiprod-jobs topic. In production
// pub is gcppubsub.New's queue, with IAM rights to publish to the topic;
// here it prints what it is sent.
func ExamplePublish() {
	ctx := context.Background()
	req := client.JobRequest{Prompt: "a busy Tokyo crossing in the rain", DurationSeconds: 5, UserID: "alice"}
	if _, err := client.Publish(ctx, printer{}, "demo", req, "order-43"); err != nil {
		log.Fatal(err)
	}

	// A bad request fails here, not on the dead-letter topic.
	_, err := client.Publish(ctx, printer{}, "demo", client.JobRequest{Prompt: "no duration"}, "")
	fmt.Println(err)
	// Output:
	// aiprod-jobs demo order-43
	// {"prompt":"a busy Tokyo crossing in the rain","duration_seconds":5,"resolution":"720p","aspect_ratio":"16:9","quality_tier":"standard","audio":false,"user_id":"alice"}
	// duration_seconds: is required: a whole number of seconds from 1 to 60
}
