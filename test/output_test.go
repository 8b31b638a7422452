package test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"

	"github.com/aiprod/aiprod/pkg/circuit"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/devstack"
	"github.com/aiprod/aiprod/pkg/job"
	"github.com/aiprod/aiprod/pkg/output"
	"github.com/aiprod/aiprod/pkg/sim"
)

// TestOutputCopiedToCloudStorage: with an output bucket, every finished
// video is copied into it (a real GCS emulator, fake-gcs-server, through
// the official storage client) and the job records the copy's URL, not the
// provider's expiring one.
func TestOutputCopiedToCloudStorage(t *testing.T) {
	t.Parallel()
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1"})
	require.NoError(t, err)
	t.Cleanup(gcs.Stop)
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "aiprod-outputs"})
	sc, err := storage.NewClient(context.Background(), option.WithEndpoint(gcs.URL()+"/storage/v1/"),
		option.WithoutAuthentication(), storage.WithJSONReads())
	require.NoError(t, err)
	t.Cleanup(func() { _ = sc.Close() })
	// The simulators serve their videos on loopback: allowed in dev, as
	// aiprod dev allows it (Stack.Network).
	copier, err := output.NewGCS(context.Background(), output.Config{Bucket: "aiprod-outputs", Client: sc, AllowPrivateNetworks: true})
	require.NoError(t, err)

	st, err := devstack.Start(context.Background(), devstack.Config{
		Addr: "127.0.0.1:0", SimSpeed: 0.1, PollInterval: 20 * time.Millisecond,
		Circuit: circuit.Config{Cooldown: time.Second}, Output: copier,
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	c := client.New(st.APIURL, devstack.APIKeyDefault)

	// Pinned to runway, whose simulator serves the video over http: the
	// copier downloads it and uploads it to the bucket.
	j, err := c.Submit(context.Background(), job.Request{Prompt: "copy me", DurationSeconds: 4, Backends: []string{"runway"}}, client.SubmitOptions{})
	require.NoError(t, err)
	j = waitTerminal(t, c, j.ID)
	require.Equal(t, job.StatusSucceeded, j.Status, "error: %+v attempts: %+v", j.Error, j.Attempts)
	want := "gs://aiprod-outputs/videos/" + j.ID + "/1.mp4"
	require.Equal(t, want, j.Result.VideoURL)

	r, err := sc.Bucket("aiprod-outputs").Object(strings.TrimPrefix(want, "gs://aiprod-outputs/")).NewReader(context.Background())
	require.NoError(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, sim.VideoBytes, b, "the stored object is the provider's video")
}
