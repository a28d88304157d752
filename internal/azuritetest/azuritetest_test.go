package azuritetest

import (
	"errors"
	"io"
	"net"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

var containerName = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9])*$`)

func TestContainer(t *testing.T) {
	seen := map[string]bool{}
	for _, name := range []string{"simple", "With Spaces/and_UPPER", "---", "ünïcödé", "a-very-long-name-that-goes-on-and-on-and-on-and-on-forever-and-ever"} {
		t.Run(name, func(t *testing.T) {
			for range 3 {
				c := Container(t)
				if len(c) < 3 || len(c) > 63 || !containerName.MatchString(c) {
					t.Errorf("Container() = %q, not a valid container name", c)
				}
				if seen[c] {
					t.Errorf("Container() = %q twice", c)
				}
				seen[c] = true
			}
		})
	}
}

func TestConnectionStringSet(t *testing.T) {
	t.Setenv(EnvStorage, "UseDevelopmentStorage=true")
	if got := ConnectionString(t); got != "UseDevelopmentStorage=true" {
		t.Errorf("ConnectionString() = %q, want the variable's value", got)
	}
}

// recorder records whether Skip or Fatal was called; both stop the calling
// goroutine, as testing.T's do.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()      {}
func (r *recorder) Skip(...any)  { r.skipped = true; runtime.Goexit() }
func (r *recorder) Fatal(...any) { r.failed = true; runtime.Goexit() }

func TestConnectionStringUnset(t *testing.T) {
	tests := []struct {
		ci, require string
		wantFail    bool
	}{
		{"", "", false},
		{"true", "", true},
		{"", "1", true},
		{"", "0", false},
	}
	for _, tt := range tests {
		t.Setenv(EnvStorage, "")
		t.Setenv("CI", tt.ci)
		t.Setenv(EnvRequire, tt.require)
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			ConnectionString(r)
		}()
		<-done
		if r.failed != tt.wantFail || r.skipped == tt.wantFail {
			t.Errorf("CI=%q %s=%q: skipped=%v failed=%v, want failed=%v", tt.ci, EnvRequire, tt.require, r.skipped, r.failed, tt.wantFail)
		}
	}
}

// TestServerStopStart: a private Azurite keeps its data across a restart on
// the same ports, and refuses connections while stopped.
func TestServerStopStart(t *testing.T) {
	s := StartServer(t)
	c, err := azblob.NewClientFromConnectionString(s.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.CreateContainer(ctx, "kept", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadBuffer(ctx, "kept", "kept", []byte("data"), nil); err != nil {
		t.Fatal(err)
	}
	endpoint := s.BlobEndpoint()

	s.Stop()
	host := strings.TrimPrefix(strings.TrimSuffix(endpoint, "/"+Account), "http://")
	if conn, err := net.Dial("tcp", host); err == nil {
		conn.Close()
		t.Fatalf("Dial(%s) after Stop succeeded, want connection refused", host)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial(%s) after Stop = %v, want connection refused", host, err)
	}

	s.Start()
	if got := s.BlobEndpoint(); got != endpoint {
		t.Errorf("BlobEndpoint() after restart = %s, want %s", got, endpoint)
	}
	resp, err := c.DownloadStream(ctx, "kept", "kept", nil)
	if err != nil {
		t.Fatalf("DownloadStream after restart = %v, want the blob written before", err)
	}
	defer resp.Body.Close()
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "data" {
		t.Errorf("blob after restart = %q, %v; want %q", b, err, "data")
	}
}
