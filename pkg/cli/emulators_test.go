package cli_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/cli"
)

func TestEmulatorsServeAndProfile(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"emulators", "--pubsub-addr", "127.0.0.1:0", "--firestore-addr", "127.0.0.1:0"},
			&cli.Env{Stdout: pw, Stderr: io.Discard, Getenv: func(k string) string {
				if k == "AIPROD_PPROF" {
					return "127.0.0.1:0"
				}
				return ""
			}})
		pw.Close()
	}()
	vars := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() && sc.Text() != "ready" {
		k, v, _ := strings.Cut(sc.Text(), "=")
		vars[k] = v
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	for _, k := range []string{"PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"} {
		c, err := net.DialTimeout("tcp", vars[k], 5*time.Second)
		require.NoError(t, err, "%s answers", k)
		c.Close()
	}
	require.NotEmpty(t, vars["PPROF"], "AIPROD_PPROF turns profiling on")
	res, err := http.Get(vars["PPROF"] + "goroutine?debug=1")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, string(body), "pkg/emulator/pubsub", "the profile is of the emulators' process")

	cancel()
	require.Equal(t, 0, <-done)
}
