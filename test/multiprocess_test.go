package test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/devstack"
	"github.com/aiprod/aiprod/pkg/job"
)

// buildBinaries builds the services and the CLI once per test binary.
var buildBinaries = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "aiprod-bin-")
	if err != nil {
		return "", err
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(gobin, "build", "-o", dir+string(os.PathSeparator), "../cmd/ingest", "../cmd/router", "../cmd/worker", "../cmd/aiprod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return dir, nil
})

// proc is a child process whose output goes to a file in the test's dir.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
}

func startProc(t *testing.T, dir, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start(), "start %s", name)
	p := &proc{name: name, cmd: cmd, log: logPath}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("--- %s log (tail) ---\n%s", name, b)
		}
	})
	return p
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// startEmulators runs `aiprod emulators` and returns its exported variables.
func startEmulators(t *testing.T, bin string) []string {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "aiprod"), "emulators", "--pubsub-addr", "127.0.0.1:0", "--firestore-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = io.Discard
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	var env []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if line == "ready" {
			break
		}
		if strings.Contains(line, "_EMULATOR_HOST=") {
			env = append(env, line)
		}
	}
	require.Len(t, env, 2, "aiprod emulators printed both hosts")
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return env
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 50*time.Millisecond, "%s never answered", url)
}

// TestMultiProcessStack runs ingest, router and two workers as separate
// processes configured only by environment variables, against `aiprod
// emulators` and the simulated backends. One worker is killed with SIGKILL
// while jobs are in flight: every job still succeeds, and no backend is
// ever sent the same prompt twice.
func TestMultiProcessStack(t *testing.T) {
	t.Parallel()
	bin, err := buildBinaries()
	require.NoError(t, err)
	dir := t.TempDir()

	emu := startEmulators(t, bin)
	sims, err := devstack.StartSims(catalog.Default(), 1)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sims.Close() })
	catPath := filepath.Join(dir, "catalog.json")
	b, err := json.Marshal(sims.Catalog)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(catPath, b, 0o600))

	common := append([]string{
		"GOOGLE_CLOUD_PROJECT=aiprod-multiprocess",
		"AIPROD_CATALOG=" + catPath,
		"AIPROD_ACK_DEADLINE=10s",
		"AIPROD_LOG_LEVEL=info",
	}, emu...)
	ingestPort := freePort(t)
	startProc(t, dir, "ingest", filepath.Join(bin, "ingest"), append(common, "PORT="+ingestPort, "AIPROD_BOOTSTRAP_API_KEY=dev:dev-key"))
	startProc(t, dir, "router", filepath.Join(bin, "router"), append(common, "PORT="+freePort(t)))
	workerEnv := append(append(common, sims.Env()...), "AIPROD_POLL_INTERVAL=50ms", "AIPROD_SUBMIT_TIMEOUT=3s")
	victim := startProc(t, dir, "worker-1", filepath.Join(bin, "worker"), append(workerEnv, "PORT="+freePort(t)))
	startProc(t, dir, "worker-2", filepath.Join(bin, "worker"), append(workerEnv, "PORT="+freePort(t)))

	api := "http://127.0.0.1:" + ingestPort
	waitHTTP(t, api+"/healthz")
	c := client.New(api, "dev-key")
	ctx := context.Background()

	const n = 16
	ids := make([]string, n)
	for i := range n {
		j, err := c.Submit(ctx, job.Request{Prompt: fmt.Sprintf("multi-process job %d", i), DurationSeconds: 5}, client.SubmitOptions{})
		require.NoError(t, err)
		ids[i] = j.ID
	}
	// Kill a worker while generations are running at the providers.
	require.Eventually(t, func() bool {
		p, err := c.List(ctx, job.StatusRunning, 100, "")
		return err == nil && len(p.Jobs) >= 2
	}, 60*time.Second, 20*time.Millisecond)
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	killed := time.Now()

	deadline, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for _, id := range ids {
		j, err := c.Wait(deadline, id, 100*time.Millisecond, nil)
		require.NoError(t, err, "job %s", id)
		require.Equal(t, job.StatusSucceeded, j.Status, "job %s: %+v attempts %+v", id, j.Error, j.Attempts)
		require.NotEmpty(t, j.Result.VideoURL)
		require.Regexp(t, hex32, j.TraceID)
		t.Logf("job %s done %.1fs after the kill, attempts %d", id[:8], j.CompletedAt.Sub(killed).Seconds(), len(j.Attempts))
	}
	submitted := 0
	for name, s := range sims.Sims {
		st := s.Core.Stats()
		require.Zero(t, st.RepeatedPrompts, "backend %s got a prompt twice", name)
		submitted += st.Submitted
	}
	require.Equal(t, n, submitted, "each job submitted to a backend once")
}
