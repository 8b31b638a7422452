package test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/catalog"
	"github.com/aiprod/aiprod/pkg/client"
	"github.com/aiprod/aiprod/pkg/devstack"
	"github.com/aiprod/aiprod/pkg/netguard"
	"github.com/aiprod/aiprod/pkg/secretbox"
)

// This file is the multi-process harness shared by TestMultiProcessStack and
// the chaos tests: it builds the service binaries, runs `aiprod emulators`,
// the simulated providers (in this process, optionally behind fault
// proxies), ingest, routers, workers and notifiers as separate processes
// configured only by environment variables, and can SIGKILL and restart
// any router, worker or notifier. Every process runs in its own process group, is killed by
// t.Cleanup (and by the kernel should the test binary die first, on Linux),
// and is reaped; nothing outlives the test.

// binDir is where buildBinaries put the binaries; TestMain removes it.
var binDir string

// buildBinaries builds the services and the CLI once per test binary.
var buildBinaries = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "aiprod-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	gobin, err := exec.LookPath("go")
	if err != nil {
		root := os.Getenv("GOROOT")
		if root == "" {
			return "", fmt.Errorf("find the go command (PATH, GOROOT): %w", err)
		}
		gobin = filepath.Join(root, "bin", "go")
	}
	cmd := exec.Command(gobin, "build", "-o", dir+string(os.PathSeparator), "../cmd/ingest", "../cmd/router", "../cmd/worker", "../cmd/notifier", "../cmd/aiprod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return dir, nil
})

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// service is one service of the stack (ingest, a router, a worker): a
// binary and its environment, run as one process at a time. Kill and Start
// replace the process; each incarnation gets a fresh PORT and its own log
// file. Safe for concurrent use.
type service struct {
	name string
	bin  string
	env  []string // without PORT
	dir  string
	// fixedPort, when set, is the PORT of every incarnation (ingest: the
	// clients know its address).
	fixedPort string

	mu      sync.Mutex
	cur     *incarnation
	gen     int
	logs    []string
	stopped bool
	// unexpected collects exits that nobody asked for (crashes).
	unexpected []string
}

type incarnation struct {
	cmd     *exec.Cmd
	port    string
	log     string
	done    chan struct{} // closed once the process is reaped
	killed  bool          // the harness killed it
	exitErr error
}

// Start runs a new incarnation; the previous one must have exited.
func (s *service) Start(t testing.TB) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New(s.name + ": stack is stopping")
	}
	if s.cur != nil {
		select {
		case <-s.cur.done:
		default:
			return fmt.Errorf("%s: still running (pid %d)", s.name, s.cur.cmd.Process.Pid)
		}
	}
	s.gen++
	port := s.fixedPort
	if port == "" {
		port = freePort(t)
	}
	logPath := filepath.Join(s.dir, fmt.Sprintf("%s.%d.log", s.name, s.gen))
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin)
	cmd.Env = append(append(os.Environ(), s.env...), "PORT="+port)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	inc := &incarnation{cmd: cmd, port: port, log: logPath, done: make(chan struct{})}
	s.cur = inc
	s.logs = append(s.logs, logPath)
	go func() {
		err := cmd.Wait()
		f.Close()
		s.mu.Lock()
		inc.exitErr = err
		if !inc.killed {
			s.unexpected = append(s.unexpected, fmt.Sprintf("%s (pid %d, %s) exited by itself: %v",
				s.name, cmd.Process.Pid, filepath.Base(logPath), err))
		}
		s.mu.Unlock()
		close(inc.done)
	}()
	return nil
}

// Kill sends SIGKILL to the current incarnation's process group and waits
// until it is reaped. It returns false when nothing was running.
func (s *service) Kill() bool {
	s.mu.Lock()
	inc := s.cur
	if inc == nil {
		s.mu.Unlock()
		return false
	}
	select {
	case <-inc.done:
		s.mu.Unlock()
		return false
	default:
	}
	inc.killed = true
	pid := inc.cmd.Process.Pid
	s.mu.Unlock()
	_ = syscall.Kill(-pid, syscall.SIGKILL) // the whole group
	_ = inc.cmd.Process.Kill()
	<-inc.done
	return true
}

// Running reports whether an incarnation is running.
func (s *service) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return false
	}
	select {
	case <-s.cur.done:
		return false
	default:
		return true
	}
}

// Port is the current incarnation's PORT.
func (s *service) Port() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return ""
	}
	return s.cur.port
}

// Unexpected returns the exits nobody asked for.
func (s *service) Unexpected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.unexpected)
}

// stop kills the current incarnation and refuses further starts.
func (s *service) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.Kill()
}

// Logs returns the log files of every incarnation, oldest first.
func (s *service) Logs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.logs)
}

// stackConfig configures startStack. Zero fields take the values of the
// original multi-process test.
type stackConfig struct {
	Routers   int     // default 1
	Workers   int     // default 2
	Notifiers int     // default 1
	SimSpeed  float64 // default 1
	// Env is added to every service's environment (after the defaults, so
	// it overrides them).
	Env []string
	// WorkerEnv is added to the workers' environment.
	WorkerEnv []string
	// NotifierEnv is added to the notifiers' environment.
	NotifierEnv []string
	// Proxies fronts every simulator with a fault proxy (see faultProxy);
	// the catalog's endpoints then point at the proxies.
	Proxies bool
	// LogDir keeps the services' logs there instead of in t.TempDir().
	LogDir string
	// LogTail is how many bytes of each log are printed when the test fails.
	LogTail int
}

// stack is a running multi-process stack.
type stack struct {
	t       testing.TB
	dir     string
	bin     string
	sims    *devstack.Sims
	proxies map[string]*faultProxy // by backend, with Proxies
	ingest  *service
	routers []*service
	workers []*service
	// notifiers deliver job webhooks, signing with the project secrets
	// sealed under secretsKey (AIPROD_SECRETS_KEY of ingest and notifiers).
	notifiers  []*service
	secretsKey string
	api        string
	client     *client.Client
	emuLog     string
	emuPid     int // the `aiprod emulators` process
	emuQuit    func()
	// emuDumped: emuQuit ran, emulators.log ends with a goroutine dump
	// (not worth a tail).
	emuDumped bool
	emuEnv    []string // PUBSUB_EMULATOR_HOST=..., FIRESTORE_EMULATOR_HOST=...
	catalogF  string
}

// emulatorHost returns the host:port of an emulator variable.
func (s *stack) emulatorHost(name string) string {
	for _, kv := range s.emuEnv {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// services returns every service, ingest first.
func (s *stack) services() []*service {
	return append(append(append([]*service{s.ingest}, s.routers...), s.workers...), s.notifiers...)
}

// The keys of the stack's ingest: project dev's API key and the admin
// key, as long as the services require (cmd/ingest MinKeyLen).
const (
	stackAPIKey   = "dev-key-of-the-multiprocess-stack-0123456789"
	stackAdminKey = "dev-admin-of-the-multiprocess-stack-0123456789"
)

// startStack builds the binaries and starts emulators, simulators, ingest,
// routers and workers; it returns once the API answers. Everything is
// stopped by t.Cleanup.
func startStack(t *testing.T, cfg stackConfig) *stack {
	t.Helper()
	cfg.Routers = max(cfg.Routers, 1)
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	cfg.Notifiers = max(cfg.Notifiers, 1)
	if cfg.LogTail <= 0 {
		cfg.LogTail = 4000
	}
	bin, err := buildBinaries()
	require.NoError(t, err)
	dir := cfg.LogDir
	if dir == "" {
		dir = t.TempDir()
	} else {
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	s := &stack{t: t, dir: dir, bin: bin, secretsKey: secretbox.NewKey()}

	emu := s.startEmulators()
	s.emuEnv = emu
	sims, err := devstack.StartSims(catalog.Default(), orDefault(cfg.SimSpeed, 1))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sims.Close() })
	s.sims = sims
	cat := sims.Catalog.Clone()
	if cfg.Proxies {
		s.proxies = map[string]*faultProxy{}
		for i := range cat.Backends {
			b := &cat.Backends[i]
			sm := sims.Sims[b.Name]
			p, err := startFaultProxy(b.Name, sm.URL)
			require.NoError(t, err)
			t.Cleanup(p.Close)
			s.proxies[b.Name] = p
			b.Endpoint = p.URL + strings.TrimPrefix(b.Endpoint, sm.URL)
		}
	}
	s.catalogF = filepath.Join(dir, "catalog.json")
	b, err := json.Marshal(cat)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(s.catalogF, b, 0o600))

	common := append(append([]string{
		"GOOGLE_CLOUD_PROJECT=aiprod-multiprocess",
		"AIPROD_CATALOG=" + s.catalogF,
		"AIPROD_ACK_DEADLINE=10s",
		"AIPROD_LOG_LEVEL=info",
		// The tests drive thousands of jobs through one key and one
		// project: no rate limit, no default budget (cmd/ingest's tests
		// cover both as the services' defaults).
		"AIPROD_RATE_LIMIT=0",
		"AIPROD_DEFAULT_MONTHLY_LIMIT_USD=0",
		"AIPROD_SECRETS_KEY=" + s.secretsKey,
		// Webhook receivers (and the simulators) listen on loopback.
		netguard.EnvAllowPrivateNetworks + "=true",
	}, emu...), cfg.Env...)
	ingestPort := freePort(t)
	s.defineServices(cfg, common, sims.Env(), ingestPort)
	// One cleanup for every service, registered before they start: kill
	// them all, then print log tails if the test failed.
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, sv := range s.services() {
			wg.Go(sv.stop)
		}
		wg.Wait()
		if t.Failed() {
			s.printLogTails(cfg.LogTail)
			if cfg.LogDir == "" {
				s.keepLogs() // t.TempDir goes away with the test
			}
		}
	})
	// Ingest first: it provisions the topology the others then find.
	require.NoError(t, s.ingest.Start(t))
	s.api = "http://127.0.0.1:" + ingestPort
	waitHTTP(t, s.api+"/healthz")
	for _, sv := range append(append(slices.Clone(s.routers), s.workers...), s.notifiers...) {
		require.NoError(t, sv.Start(t))
	}
	s.client = client.New(s.api, stackAPIKey)
	return s
}

// defineServices makes (without starting them) ingest on ingestPort, the
// routers, workers (with the simulators' simsEnv and cfg.WorkerEnv too) and
// notifiers, each with common in its environment.
func (s *stack) defineServices(cfg stackConfig, common, simsEnv []string, ingestPort string) {
	define := func(name, bin string, env []string) *service {
		return &service{name: name, bin: filepath.Join(s.bin, bin), dir: s.dir, env: env}
	}
	s.ingest = define("ingest", "ingest", append(slices.Clone(common), "AIPROD_BOOTSTRAP_API_KEY=dev:"+stackAPIKey, "AIPROD_ADMIN_KEY="+stackAdminKey))
	s.ingest.fixedPort = ingestPort
	for i := range cfg.Routers {
		s.routers = append(s.routers, define(fmt.Sprintf("router-%d", i+1), "router", slices.Clone(common)))
	}
	workerEnv := append(append(append(slices.Clone(common), simsEnv...),
		"AIPROD_POLL_INTERVAL=50ms", "AIPROD_SUBMIT_TIMEOUT=3s"), cfg.WorkerEnv...)
	for i := range cfg.Workers {
		s.workers = append(s.workers, define(fmt.Sprintf("worker-%d", i+1), "worker", slices.Clone(workerEnv)))
	}
	for i := range cfg.Notifiers {
		s.notifiers = append(s.notifiers, define(fmt.Sprintf("notifier-%d", i+1), "notifier",
			append(slices.Clone(common), cfg.NotifierEnv...)))
	}
}

func orDefault(v, def float64) float64 {
	if v > 0 {
		return v
	}
	return def
}

// startEmulators runs `aiprod emulators` and returns its exported variables.
func (s *stack) startEmulators() []string {
	t := s.t
	t.Helper()
	s.emuLog = filepath.Join(s.dir, "emulators.log")
	f, err := os.Create(s.emuLog)
	require.NoError(t, err)
	cmd := exec.Command(filepath.Join(s.bin, "aiprod"), "emulators", "--pubsub-addr", "127.0.0.1:0", "--firestore-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = f
	cmd.SysProcAttr = childProcAttr()
	require.NoError(t, cmd.Start())
	s.emuPid = cmd.Process.Pid
	lines := make(chan string, 64) // a handful of lines come before "ready"
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
			if sc.Text() == "ready" {
				break
			}
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		f.Close()
	}()
	s.emuQuit = func() {
		s.emuDumped = true
		// SIGQUIT: the Go runtime writes every goroutine's stack to
		// stderr (emulators.log) and exits.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	}
	// Registered first, so it runs after the services' cleanup.
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	var env []string
	timeout := time.After(60 * time.Second)
	for ready := false; !ready; {
		select {
		case line, ok := <-lines:
			if !ok {
				require.FailNow(t, "aiprod emulators exited before ready", "env so far: %v", env)
			}
			if line == "ready" {
				ready = true
			} else if strings.Contains(line, "_EMULATOR_HOST=") {
				env = append(env, line)
			}
		case <-timeout:
			require.FailNow(t, "aiprod emulators not ready within 60s")
		}
	}
	require.Len(t, env, 2, "aiprod emulators printed both hosts")
	return env
}

// keepLogs copies the log directory out of t.TempDir, so that the evidence
// of a failure outlives the test, and says where.
func (s *stack) keepLogs() {
	dst, err := os.MkdirTemp("", "aiprod-test-logs-")
	if err != nil {
		return
	}
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if err == nil {
			_ = os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
		}
	}
	s.t.Logf("service logs copied to %s (set AIPROD_CHAOS_LOGDIR to choose the place)", dst)
}

// printLogTails logs the last n bytes of every service's current log and,
// when it was restarted, of its previous incarnation.
func (s *stack) printLogTails(n int) {
	s.t.Logf("service logs are in %s", s.dir)
	for _, sv := range s.services() {
		logs := sv.Logs()
		if len(logs) > 2 {
			logs = logs[len(logs)-2:]
		}
		for _, l := range logs {
			s.t.Logf("--- %s (tail) ---\n%s", filepath.Base(l), tail(l, n))
		}
	}
	if !s.emuDumped {
		s.t.Logf("--- emulators.log (tail) ---\n%s", tail(s.emuLog, n/4))
	}
}

// grepLogs returns, for each job id, the last n lines of every service log
// that mention it, oldest first, condensed to time, log file, message and
// the reason or error.
func (s *stack) grepLogs(ids []string, n int) map[string][]string {
	out := map[string][]string{}
	if len(ids) == 0 {
		return out
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	type line struct {
		at   string
		text string
	}
	found := map[string][]line{}
	for _, sv := range s.services() {
		for _, path := range sv.Logs() {
			f, err := os.Open(path)
			if err != nil {
				continue
			}
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
			for sc.Scan() {
				b := sc.Bytes()
				i := strings.Index(string(b), `"job_id":"`)
				if i < 0 {
					continue
				}
				id := string(b[i+10 : min(i+46, len(b))])
				if !want[id] {
					continue
				}
				var m map[string]any
				if json.Unmarshal(b, &m) != nil {
					continue
				}
				at, _ := m["time"].(string)
				text := fmt.Sprintf("%s %s %v", filepath.Base(path), m["severity"], m["message"])
				for _, k := range []string{"backend", "attempt", "delivery_attempt", "reason", "error", "handle"} {
					if v, ok := m[k]; ok {
						text += fmt.Sprintf(" %s=%v", k, v)
					}
				}
				found[id] = append(found[id], line{at, text})
			}
			f.Close()
		}
	}
	for id, ls := range found {
		slices.SortStableFunc(ls, func(a, b line) int { return strings.Compare(a.at, b.at) })
		if len(ls) > n {
			ls = ls[len(ls)-n:]
		}
		for _, l := range ls {
			at := l.at
			if len(at) >= 23 {
				at = at[11:23]
			}
			out[id] = append(out[id], at+" "+l.text)
		}
	}
	return out
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(st.Size()-int64(n), 0)
	b := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(b, off)
	return string(b)
}

func waitHTTP(t testing.TB, url string) {
	t.Helper()
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 50*time.Millisecond, "%s never answered", url)
}
