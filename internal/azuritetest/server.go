package azuritetest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Azurite's well-known development account. The key is public (Microsoft
// documents it), which is why it may appear in a test's source.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// NoSecrets fails the test if s, which what names, holds the account key,
// an "AccountKey=" of a connection string or a SAS signature.
func NoSecrets(tb testing.TB, what, s string) {
	tb.Helper()
	for _, secret := range []string{Key, "AccountKey", "sig="} {
		if strings.Contains(s, secret) {
			tb.Errorf("%s holds %q: %s", what, secret, s)
		}
	}
}

// How long Azurite may take to listen, and to exit once asked to. It starts
// in a second or two on an idle machine, but took over 20 s with four
// starting at once beside other race-built tests on two cores.
const (
	startTimeout = 2 * time.Minute
	stopTimeout  = 10 * time.Second
)

// Server is a private Azurite for one test: a process of its own, which the
// test can [Server.Stop] to make storage unreachable (connections are
// refused) and [Server.Start] again on the same ports. Its data is kept on
// disk in a directory of the test's, so it survives a restart.
//
// Use it only for storage faults: every other test shares the Azurite of
// [ConnectionString], which starts once for the whole test command. A
// Server's methods must be called from one goroutine at a time.
type Server struct {
	tb  testing.TB
	bin string
	dir string // --location: blobs, queues and their metadata
	// ports of the blob, queue and table services: 0 until the first start
	// has chosen them, then fixed so the connection string stays valid.
	blob, queue, table int

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	output *lockedBuffer // cmd's output, for a failure message
}

// StartServer starts a private Azurite, stopped when the test ends. It
// skips the test when Azurite is not installed in tools/azurite (by
// scripts/with-azurite.sh or `npm ci --prefix tools/azurite`), or fails it
// where Azurite is required (CI, see [ConnectionString]).
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	bin, err := azuriteBinary()
	if err == nil {
		_, err = exec.LookPath("node")
	}
	if err != nil {
		msg := fmt.Sprintf("azuritetest: no Azurite to start (%v): run `bash scripts/with-azurite.sh true` once to install it", err)
		if required() {
			tb.Fatal(msg + " (required because CI or " + EnvRequire + "=1 is set)")
		}
		tb.Skip(msg)
	}
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir()}
	tb.Cleanup(func() {
		if s.cmd != nil {
			s.Stop()
		}
	})
	s.Start()
	return s
}

// azuriteBinary finds tools/azurite/node_modules/.bin/azurite in the module
// that holds the working directory (go test runs in the package directory).
func azuriteBinary() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			bin := filepath.Join(dir, "tools", "azurite", "node_modules", ".bin", "azurite")
			if _, err := os.Stat(bin); err != nil {
				return "", err
			}
			return bin, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// listening matches Azurite's "Azurite Blob service is successfully
// listening at http://127.0.0.1:PORT" lines: with port 0, the only place
// the chosen port is told.
var listening = regexp.MustCompile(`^Azurite (Blob|Queue|Table) service is successfully listening at http://[^/]*:([0-9]+)`)

// Start starts Azurite: on ports the kernel picks the first time, on the
// same ports afterwards. It returns once the blob and queue services accept
// connections, and fails the test if Azurite exits or does not listen
// within two minutes. Starting a running Server fails the test.
func (s *Server) Start() {
	s.tb.Helper()
	if s.cmd != nil {
		s.tb.Fatal("azuritetest: Start: Azurite is running")
	}
	// Loopback only; persistence on disk (not --inMemoryPersistence) so
	// that what a test wrote is there again after a restart.
	cmd := exec.Command(s.bin,
		"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(s.blob),
		"--queueHost", "127.0.0.1", "--queuePort", strconv.Itoa(s.queue),
		"--tableHost", "127.0.0.1", "--tablePort", strconv.Itoa(s.table),
		"--location", s.dir,
		"--skipApiVersionCheck", "--disableTelemetry", "--loose")
	cmd.Dir = s.dir // anything Azurite writes beside its data lands here too
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	output, exited := &lockedBuffer{}, make(chan struct{})
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("azuritetest: start %s: %v", s.bin, err)
	}
	s.cmd, s.exited, s.output = cmd, exited, output
	// The reader ends when the pipe's writer is closed, which the waiter
	// does once the process has exited.
	ports := make(chan [2]string, 3)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			output.add(line)
			if m := listening.FindStringSubmatch(line); m != nil {
				ports <- [2]string{m[1], m[2]}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		defer close(exited)
		_ = cmd.Wait()
		pw.Close()
	}()

	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	got := map[string]int{}
	for len(got) < 3 {
		select {
		case p := <-ports:
			got[p[0]], _ = strconv.Atoi(p[1])
		case <-s.exited:
			s.cmd = nil
			s.tb.Fatalf("azuritetest: Azurite exited during startup:\n%s", s.output)
		case <-deadline.C:
			s.tb.Fatalf("azuritetest: Azurite did not listen within %v:\n%s", startTimeout, s.output)
		}
	}
	if s.blob != 0 && (got["Blob"] != s.blob || got["Queue"] != s.queue) {
		s.tb.Fatalf("azuritetest: Azurite restarted on blob %d, queue %d; want %d, %d", got["Blob"], got["Queue"], s.blob, s.queue)
	}
	s.blob, s.queue, s.table = got["Blob"], got["Queue"], got["Table"]
	// Azurite logs "listening" from the listen callback, so this should
	// connect at once; the poll is a bound, not a wait.
	for _, p := range []int{s.blob, s.queue} {
		if err := dialUntil(p, deadline.C); err != nil {
			s.tb.Fatalf("azuritetest: Azurite reported port %d but does not accept connections: %v\n%s", p, err, s.output)
		}
	}
}

// dialUntil connects to 127.0.0.1:port, polling every 10 ms until it
// succeeds or deadline fires.
func dialUntil(port int, deadline <-chan time.Time) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return c.Close()
		}
		select {
		case <-deadline:
			return err
		case <-tick.C:
		}
	}
}

// Stop stops Azurite (SIGTERM, then SIGKILL if it has not exited within 10
// seconds) and waits for the process to exit, so its ports refuse
// connections when Stop returns. Stopping a stopped Server fails the test.
func (s *Server) Stop() {
	s.tb.Helper()
	if s.cmd == nil {
		s.tb.Fatal("azuritetest: Stop: Azurite is not running")
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.tb.Errorf("azuritetest: Azurite (pid %d) did not stop within %v; killing it", s.cmd.Process.Pid, stopTimeout)
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// ConnectionString is the connection string of the Server's blob and queue
// services. It stays valid across Stop and Start.
func (s *Server) ConnectionString() string {
	return "DefaultEndpointsProtocol=http;AccountName=" + Account + ";AccountKey=" + Key +
		";BlobEndpoint=" + s.BlobEndpoint() + ";QueueEndpoint=" + fmt.Sprintf("http://127.0.0.1:%d/%s", s.queue, Account) + ";"
}

// BlobEndpoint is the blob service's URL: http://127.0.0.1:PORT/devstoreaccount1.
func (s *Server) BlobEndpoint() string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s", s.blob, Account)
}

// lockedBuffer is Azurite's output, written by the reader goroutine and
// read by a failing test.
type lockedBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *lockedBuffer) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}
