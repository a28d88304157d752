package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/tenantreport/tenantreport/internal/customhandler"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/report"
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

// newCollector wires the Graph collector of the settings and the
// per-tenant credentials it reads with, which doctor checks on their own.
// It does no I/O beyond building clients.
func newCollector(s settings.Settings, tr http.RoundTripper) (*graphdata.Collector, *tenantauth.Source, error) {
	co := azcore.ClientOptions{Transport: &http.Client{Transport: tr}}
	mi, err := tenantauth.NewManagedIdentity(s.ManagedIdentityClientID, co)
	if err != nil {
		return nil, nil, err
	}
	creds := tenantauth.New(mi, tenantauth.Options{
		BridgeAppClientID:  s.BridgeAppClientID,
		AuthorityHost:      s.Cloud.AuthorityHost,
		ExchangeAudience:   s.Cloud.ExchangeAudience,
		ConsentRedirectURI: s.Cloud.ConsentRedirectURI,
		ClientOptions:      co,
	})
	return &graphdata.Collector{
		Credentials: creds,
		Endpoint:    s.Cloud.GraphEndpoint,
		Scope:       s.Cloud.GraphScope,
		Transport:   graphdata.NewTransport(tr, pacing(s)),
		Sections:    s.Sections,
		Waste:       graphdata.Waste{MinSeats: s.Thresholds.WasteMinSeats, MinShare: float64(s.Thresholds.WasteMinPercent) / 100},
	}, creds, nil
}

// pacing is the pacing the settings ask for: nil when it is off.
func pacing(s settings.Settings) *graphdata.Pacing {
	if s.Unpaced {
		return nil
	}
	p := graphdata.DefaultPacing()
	p.TimeScale = s.TimeScale
	return p
}

// newRunner wires a report runner from settings. It does no I/O beyond
// building clients.
func newRunner(s settings.Settings, tr http.RoundTripper, store run.Uploader, log *slog.Logger) (*run.Runner, error) {
	col, _, err := newCollector(s, tr)
	if err != nil {
		return nil, err
	}
	return &run.Runner{
		Tenants:       s.Tenants,
		Collector:     col,
		Store:         store,
		Sections:      s.Sections,
		Parallel:      s.Concurrency,
		TenantTimeout: s.TenantTimeout,
		// Each tenant's own workbook, to hand to its customer.
		TenantWorkbooks: s.TenantWorkbooks,
		Logger:          log,
		Version:         version(),
		Highlights: report.Thresholds{MFACoverage: float64(s.Thresholds.MFAMinPercent) / 100,
			SecureScore: float64(s.Thresholds.ScoreMinPercent) / 100},
	}, nil
}

// version is the handler's module version and VCS revision, as the Go
// toolchain recorded them.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown version)"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			v += " " + s.Value[:12]
		case s.Key == "vcs.modified" && s.Value == "true":
			v += " (modified)"
		}
	}
	return v
}

// newStore returns the blob store of the storage settings: a connection
// string, or a service URL reached with the managed identity. It does no
// I/O.
func newStore(st settings.Storage, container, miClientID string, tr http.RoundTripper) (*reportstore.Store, error) {
	if st.IsZero() {
		return nil, fmt.Errorf("no storage for reports: set %s or %s (or their __blobServiceUri form)", settings.KeyWebJobs, settings.KeyStorage)
	}
	co := azcore.ClientOptions{Transport: &http.Client{Transport: tr}}
	opts := &azblob.ClientOptions{ClientOptions: co}
	opts.Retry = storageRetry()
	store, err := storageClient(st, miClientID, co,
		func(conn string) (*reportstore.Store, error) {
			return reportstore.NewFromConnectionString(conn, container, opts)
		},
		func(cred azcore.TokenCredential) (*reportstore.Store, error) {
			return reportstore.New(st.ServiceURL, container, cred, opts)
		})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", st.Setting, err)
	}
	return store, nil
}

// storageRetry is how the blob and queue clients retry one request (a
// block, a record, a message), set here rather than left to the SDK:
//   - TryTimeout: the SDK's default has none, so a storage endpoint that
//     accepts connections and never answers would hold a run, and the
//     Functions invocation, until functionTimeout. A minute is ample for
//     one 4 MiB block.
//   - MaxRetries 3, waits of 1, 3 and 7 s (±jitter, capped at 8 s): a
//     request gives up after about 11 s when storage is down (connection
//     refused, 5xx), so `handler run` and the timer fail in seconds with
//     storage's error, not minutes later. The run's final record has a
//     longer retry of its own (run.Backoff), as losing it costs more.
func storageRetry() policy.RetryOptions {
	return policy.RetryOptions{MaxRetries: 3, TryTimeout: time.Minute, RetryDelay: time.Second, MaxRetryDelay: 8 * time.Second}
}

// storageClient builds a client of st: from its connection string, or from
// its service URL with the managed identity (st's own client id, else the
// handler's). It does no I/O.
func storageClient[T any](st settings.Storage, miClientID string, co azcore.ClientOptions,
	fromConn func(conn string) (T, error), fromIdentity func(azcore.TokenCredential) (T, error)) (T, error) {
	if st.ConnectionString != "" {
		return fromConn(st.ConnectionString)
	}
	cred, err := tenantauth.NewManagedIdentity(cmp.Or(st.ClientID, miClientID), co)
	if err != nil {
		var zero T
		return zero, err
	}
	return fromIdentity(cred)
}

// openStore returns the reports' blob store, its container created.
func openStore(ctx context.Context, s settings.Settings, tr http.RoundTripper) (*reportstore.Store, error) {
	st, err := newStore(s.Storage, s.Container, s.ManagedIdentityClientID, tr)
	if err != nil {
		return nil, err
	}
	if err := st.EnsureContainer(ctx); err != nil {
		return nil, fmt.Errorf("%s: container %s: %w", s.Storage.Setting, s.Container, err)
	}
	return st, nil
}

// newQueue returns the run queue in the host's storage, where ReportQueue's
// trigger reads it. It does no I/O.
func newQueue(s settings.Settings, tr http.RoundTripper) (*reportstore.Queue, error) {
	st := s.HostStorage
	if !st.HasQueue() {
		return nil, fmt.Errorf("no storage for the run queue: set %s (or %s__queueServiceUri)", settings.KeyWebJobs, settings.KeyWebJobs)
	}
	co := azcore.ClientOptions{Transport: &http.Client{Transport: tr}}
	opts := &azqueue.ClientOptions{ClientOptions: co}
	opts.Retry = storageRetry()
	q, err := storageClient(st, s.ManagedIdentityClientID, co,
		func(conn string) (*reportstore.Queue, error) {
			return reportstore.NewQueueFromConnectionString(conn, customhandler.RunQueue, opts)
		},
		func(cred azcore.TokenCredential) (*reportstore.Queue, error) {
			return reportstore.NewQueue(st.QueueServiceURL, customhandler.RunQueue, cred, opts)
		})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", st.Setting, err)
	}
	return q, nil
}

// storage is serve's blob store and run queue. It creates the container and
// the queue before their first write rather than at start, so serve answers
// the host's readiness probe without waiting on storage, and a storage
// outage at start fails a request with a clear error instead of the process.
type storage struct {
	*reportstore.Store
	queue *reportstore.Queue
	// queueErr says why there is no queue, when there is none.
	queueErr error

	mu                   sync.Mutex
	containerOK, queueOK bool
}

var (
	_ customhandler.Store = (*storage)(nil)
	_ customhandler.Queue = (*storage)(nil)
	_ run.Records         = (*storage)(nil)
)

// ensure runs create until it has succeeded once.
func (s *storage) ensure(ctx context.Context, done *bool, create func(context.Context) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *done {
		return nil
	}
	if err := create(ctx); err != nil {
		return err
	}
	*done = true
	return nil
}

func (s *storage) Upload(ctx context.Context, name string, r io.Reader) error {
	if err := s.ensure(ctx, &s.containerOK, s.Store.EnsureContainer); err != nil {
		return err
	}
	return s.Store.Upload(ctx, name, r)
}

func (s *storage) Send(ctx context.Context, msg []byte) error {
	if s.queueErr != nil {
		return s.queueErr
	}
	if err := s.ensure(ctx, &s.queueOK, s.queue.Ensure); err != nil {
		return err
	}
	return s.queue.Send(ctx, msg)
}

// Lease adapts the store's lease to run.Records.
func (s *storage) Lease(ctx context.Context, name string, d time.Duration) (run.Lease, error) {
	l, err := s.Store.Lease(ctx, name, d)
	if err != nil {
		return nil, err
	}
	return l, nil
}
