package reportstore

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"

	"github.com/tenantreport/tenantreport/internal/azuritetest"
)

// newLeased returns a Store holding name with content "v1", and a lease of
// 15 seconds on it.
func newLeased(t *testing.T, name string) (*Store, *Lease) {
	t.Helper()
	s := newAzurite(t)
	mustUpload(t, s, name, bytes.NewReader([]byte("v1")))
	l, err := s.Lease(t.Context(), name, 15*time.Second)
	if err != nil {
		t.Fatalf("Lease(%q): %v", name, err)
	}
	if l.Name() != name {
		t.Errorf("Lease(%q).Name() = %q", name, l.Name())
	}
	return s, l
}

func TestLeaseExcludesOthers(t *testing.T) {
	const name = "runs/r.json"
	s, _ := newLeased(t, name)
	if l2, err := s.Lease(t.Context(), name, 60*time.Second); !errors.Is(err, ErrLeased) {
		t.Errorf("second Lease(%q) = %v, %v; want ErrLeased", name, l2, err)
	}
	// One upload small enough for a single Put Blob, one that stages blocks.
	for _, data := range [][]byte{[]byte("intruder"), randomBytes(5 << 20)} {
		if err := s.Upload(t.Context(), name, bytes.NewReader(data)); !errors.Is(err, ErrLeased) {
			t.Errorf("Store.Upload(%q, %d bytes) while leased = %v, want ErrLeased", name, len(data), err)
		}
	}
	if got := read(t, s, name); string(got) != "v1" {
		t.Errorf("after refused uploads, Open = %q, want %q", got, "v1")
	}
}

func TestLeaseUpload(t *testing.T) {
	const name = "reports/2024/03/05/r.xlsx"
	s, l := newLeased(t, name)
	before := mustStat(t, s, name)
	for _, data := range [][]byte{[]byte("v2"), randomBytes(9<<20 + 1)} {
		if err := l.Upload(t.Context(), bytes.NewReader(data)); err != nil {
			t.Fatalf("Lease.Upload(%d bytes): %v", len(data), err)
		}
		if got := read(t, s, name); !bytes.Equal(got, data) {
			t.Errorf("after Lease.Upload, Open read %d bytes, want the %d uploaded", len(got), len(data))
		}
	}
	after := mustStat(t, s, name)
	if after.ETag == before.ETag {
		t.Errorf("ETag %s unchanged by Lease.Upload", after.ETag)
	}
	props, err := s.c.NewBlobClient(name).GetProperties(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := contentType(name); props.ContentType == nil || *props.ContentType != want {
		t.Errorf("content type after Lease.Upload = %v, want %q", props.ContentType, want)
	}
	if err := l.Renew(t.Context()); err != nil {
		t.Errorf("Renew after Lease.Upload = %v; the upload should keep the lease", err)
	}
}

func TestLeaseFailedUploadKeepsOld(t *testing.T) {
	const name = "runs/r.json"
	s, l := newLeased(t, name)
	errBoom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(randomBytes(5<<20)), errReader{errBoom})
	if err := l.Upload(t.Context(), r); !errors.Is(err, errBoom) {
		t.Fatalf("Lease.Upload(failing reader) = %v, want %v", err, errBoom)
	}
	if got := read(t, s, name); string(got) != "v1" {
		t.Errorf("after a failed Lease.Upload, Open = %q, want %q", got, "v1")
	}
}

func TestLeaseRenewRelease(t *testing.T) {
	const name = "runs/r.json"
	s, l := newLeased(t, name)
	if err := l.Renew(t.Context()); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if err := l.Release(t.Context()); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := l.Renew(t.Context()); !errors.Is(err, ErrLeased) {
		t.Errorf("Renew after Release = %v, want ErrLeased", err)
	}
	if err := l.Upload(t.Context(), bytes.NewReader([]byte("stale"))); !errors.Is(err, ErrLeased) {
		t.Errorf("Lease.Upload after Release = %v, want ErrLeased", err)
	}
	if got := read(t, s, name); string(got) != "v1" {
		t.Errorf("after a refused Lease.Upload, Open = %q, want %q", got, "v1")
	}
	l2, err := s.Lease(t.Context(), name, -1)
	if err != nil {
		t.Fatalf("Lease after Release: %v", err)
	}
	if err := l.Release(t.Context()); !errors.Is(err, ErrLeased) {
		t.Errorf("Release of the old lease while another holds one = %v, want ErrLeased", err)
	}
	if err := l2.Release(t.Context()); err != nil {
		t.Errorf("Release of the new lease: %v", err)
	}
	mustUpload(t, s, name, bytes.NewReader([]byte("v2")))
}

// TestLeaseLost breaks a lease, as an operator (or an expiry) would, and lets
// another holder take the blob: the first holder's writes must fail.
func TestLeaseLost(t *testing.T) {
	const name = "runs/r.json"
	s, l := newLeased(t, name)
	lc, err := lease.NewBlobClient(s.c.NewBlobClient(name), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.BreakLease(t.Context(), &lease.BlobBreakOptions{BreakPeriod: new(int32(0))}); err != nil {
		t.Fatalf("BreakLease: %v", err)
	}
	if err := l.Upload(t.Context(), bytes.NewReader([]byte("v2"))); !errors.Is(err, ErrLeased) {
		t.Errorf("Lease.Upload after a break = %v, want ErrLeased", err)
	}
	if err := l.Renew(t.Context()); !errors.Is(err, ErrLeased) {
		t.Errorf("Renew after a break = %v, want ErrLeased", err)
	}
	l2, err := s.Lease(t.Context(), name, 15*time.Second)
	if err != nil {
		t.Fatalf("Lease after a break: %v", err)
	}
	if err := l.Upload(t.Context(), bytes.NewReader([]byte("v3"))); !errors.Is(err, ErrLeased) {
		t.Errorf("Lease.Upload of a lease taken over = %v, want ErrLeased", err)
	}
	if got := read(t, s, name); string(got) != "v1" {
		t.Errorf("after refused uploads, Open = %q, want %q", got, "v1")
	}
	if err := l2.Upload(t.Context(), bytes.NewReader([]byte("v4"))); err != nil {
		t.Errorf("Lease.Upload by the new holder: %v", err)
	}
}

func TestLeaseNotFound(t *testing.T) {
	s := newAzurite(t)
	missing, err := NewFromConnectionString(azuritetest.ConnectionString(t), azuritetest.Container(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []*Store{s, missing} {
		if l, err := st.Lease(t.Context(), "missing.json", 15*time.Second); !errors.Is(err, ErrNotFound) {
			t.Errorf("Lease(missing.json) = %v, %v; want ErrNotFound", l, err)
		}
	}
}

func TestLeaseInvalid(t *testing.T) {
	const conn = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;"
	s, err := NewFromConnectionString(conn, "reports", &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: noRequests{t}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		d    time.Duration
	}{
		{"a.json", 0},
		{"a.json", 14 * time.Second},
		{"a.json", 61 * time.Second},
		{"a.json", 15*time.Second + time.Millisecond},
		{"a.json", -2},
		{"a.json", -time.Second},
		{"../a.json", 15 * time.Second},
	}
	for _, tt := range tests {
		if l, err := s.Lease(t.Context(), tt.name, tt.d); err == nil {
			t.Errorf("Lease(%q, %v) = %v, want an error", tt.name, tt.d, l)
		}
	}
	if _, err := s.Lease(t.Context(), "a/../b", 15*time.Second); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Lease(a/../b) = %v, want ErrInvalidName", err)
	}
}
