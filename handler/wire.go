package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/settings"
	"github.com/tenantreport/tenantreport/internal/tenantauth"
)

// newTransport returns the HTTP transport of all outbound calls, trusting
// caFile's certificates on top of the system's (the emulator's CA).
func newTransport(caFile string) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile == "" {
		return tr, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", settings.KeyCAFile, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", settings.KeyCAFile, caFile)
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}

// loadSettings reads the settings and builds the transport they call for.
func loadSettings(getenv func(string) string) (settings.Settings, http.RoundTripper, error) {
	s, err := settings.Load(getenv)
	if err != nil {
		return s, nil, err
	}
	tr, err := newTransport(s.CAFile)
	return s, tr, err
}

// newRunner wires a report runner from settings. It does no I/O beyond
// building clients.
func newRunner(s settings.Settings, tr http.RoundTripper, store run.Uploader, log *slog.Logger) (*run.Runner, error) {
	co := azcore.ClientOptions{Transport: &http.Client{Transport: tr}}
	mi, err := tenantauth.NewManagedIdentity(s.ManagedIdentityClientID, co)
	if err != nil {
		return nil, err
	}
	creds := tenantauth.New(mi, tenantauth.Options{
		BridgeAppClientID: s.BridgeAppClientID,
		AuthorityHost:     s.Cloud.AuthorityHost,
		ExchangeAudience:  s.Cloud.ExchangeAudience,
		ClientOptions:     co,
	})
	return &run.Runner{
		Tenants: s.Tenants,
		Collector: &graphdata.Collector{
			Credentials: creds,
			Endpoint:    s.Cloud.GraphEndpoint,
			Scope:       s.Cloud.GraphScope,
			Transport:   graphdata.NewTransport(tr),
			Sections:    s.Sections,
		},
		Store:    store,
		Sections: s.Sections,
		Parallel: s.Concurrency,
		Logger:   log,
	}, nil
}

// openStore returns the blob store of the settings' storage: a connection
// string, or a service URL reached with the managed identity.
func openStore(ctx context.Context, s settings.Settings, tr http.RoundTripper) (*reportstore.Store, error) {
	if s.Storage.IsZero() {
		return nil, fmt.Errorf("no storage for reports: set %s or %s (or their __blobServiceUri form)", settings.KeyWebJobs, settings.KeyStorage)
	}
	co := azcore.ClientOptions{Transport: &http.Client{Transport: tr}}
	opts := &azblob.ClientOptions{ClientOptions: co}
	var (
		st  *reportstore.Store
		err error
	)
	if s.Storage.ConnectionString != "" {
		st, err = reportstore.NewFromConnectionString(s.Storage.ConnectionString, s.Container, opts)
	} else {
		clientID := s.Storage.ClientID
		if clientID == "" {
			clientID = s.ManagedIdentityClientID
		}
		var cred azcore.TokenCredential
		if cred, err = tenantauth.NewManagedIdentity(clientID, co); err == nil {
			st, err = reportstore.New(s.Storage.ServiceURL, s.Container, cred, opts)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Storage.Setting, err)
	}
	if err := st.EnsureContainer(ctx); err != nil {
		return nil, fmt.Errorf("%s: container %s: %w", s.Storage.Setting, s.Container, err)
	}
	return st, nil
}

// lazyStore opens the store on the first upload, so serve answers the host's
// readiness probe without waiting on storage, and a storage outage at start
// fails a run with a clear error instead of the process.
type lazyStore struct {
	open func(context.Context) (run.Uploader, error)

	mu sync.Mutex
	st run.Uploader
}

func (l *lazyStore) Upload(ctx context.Context, name string, r io.Reader) error {
	l.mu.Lock()
	if l.st == nil {
		st, err := l.open(ctx)
		if err != nil {
			l.mu.Unlock()
			return err
		}
		l.st = st
	}
	st := l.st
	l.mu.Unlock()
	return st.Upload(ctx, name, r)
}
