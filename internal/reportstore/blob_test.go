package reportstore

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/tenantreport/tenantreport/internal/azuritetest"
)

// newAzurite returns a Store on a new, created container of the Azurite
// that scripts/with-azurite.sh started.
func newAzurite(t *testing.T) *Store {
	t.Helper()
	s, err := NewFromConnectionString(azuritetest.ConnectionString(t), azuritetest.Container(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureContainer(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	testStore(t, func(t *testing.T) store { return newAzurite(t) })
}

func TestStoreEnsureContainerTwice(t *testing.T) {
	s := newAzurite(t)
	if err := s.EnsureContainer(t.Context()); err != nil {
		t.Errorf("second EnsureContainer = %v, want nil", err)
	}
}

func TestStoreContentType(t *testing.T) {
	s := newAzurite(t)
	for name, want := range map[string]string{
		"reports/2024/01/02/r.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		"runs/r.json":               "application/json",
	} {
		mustUpload(t, s, name, bytes.NewReader([]byte("x")))
		props, err := s.c.NewBlobClient(name).GetProperties(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if props.ContentType == nil || *props.ContentType != want {
			t.Errorf("content type of %s = %v, want %q", name, props.ContentType, want)
		}
	}
}

func TestStoreMissingContainer(t *testing.T) {
	s, err := NewFromConnectionString(azuritetest.ConnectionString(t), azuritetest.Container(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if items, err := s.List(t.Context(), ""); err != nil || len(items) != 0 {
		t.Errorf("List on a missing container = %+v, %v; want empty", items, err)
	}
	assertAbsent(t, s, "x.json")
}

func TestNewInvalid(t *testing.T) {
	const conn = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;"
	for _, c := range []string{"", "ab", "Upper", "a--b", "-ab", "ab-", "a_b", strings.Repeat("a", 64)} {
		if _, err := NewFromConnectionString(conn, c, nil); err == nil || !strings.HasPrefix(err.Error(), "reportstore: invalid container name") {
			t.Errorf("NewFromConnectionString(container %q) = %v, want an invalid container error", c, err)
		}
		if _, err := New("https://acct.blob.core.windows.net/", c, fakeCred{}, nil); err == nil {
			t.Errorf("New(container %q) succeeded, want an error", c)
		}
	}
	if _, err := NewFromConnectionString("garbage", "reports", nil); err == nil || strings.Contains(err.Error(), "garbage") {
		t.Errorf("NewFromConnectionString(garbage) = %v, want an error that does not echo the string", err)
	}
	if _, err := NewFromConnectionString(conn, "reports", nil); err != nil {
		t.Errorf("NewFromConnectionString(valid) = %v", err)
	}
	if _, err := New("https://acct.blob.core.windows.net/", "reports", nil, nil); err == nil {
		t.Error("New(nil credential) succeeded, want an error")
	}
	if _, err := New("https://acct.blob.core.windows.net/", "reports", fakeCred{}, nil); err != nil {
		t.Errorf("New(valid) = %v", err)
	}
}

func TestQuoteETag(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"0x8DC1", `"0x8DC1"`},
		{`"0x8DC1"`, `"0x8DC1"`},
		{`W/"0x8DC1"`, `W/"0x8DC1"`},
		{`"`, `"""`},
	}
	for _, tt := range tests {
		if got := quoteETag(tt.in); got != tt.want {
			t.Errorf("quoteETag(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// noRequests is an azcore transport that fails the test on any request,
// for checks that must reject before any I/O.
type noRequests struct{ t testing.TB }

func (n noRequests) Do(r *http.Request) (*http.Response, error) {
	n.t.Errorf("unexpected request %s %s", r.Method, r.URL.Redacted())
	return nil, errors.New("noRequests: no requests allowed")
}

// fakeCred is never asked for a token: TestNewInvalid makes no requests.
type fakeCred struct{}

func (fakeCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("fakeCred: no tokens")
}
