// Package customhandler speaks the Azure Functions custom-handler protocol
// and serves the reports API.
//
// # Contract
//
// The host starts the handler with FUNCTIONS_CUSTOMHANDLER_PORT and treats
// any answer to GET / as ready. A timer invocation arrives as
// POST /ReportTimer and a queue invocation as POST /ReportQueue, each with an
// [InvokeRequest] body and the headers X-Azure-Functions-InvocationId and
// X-Azure-Functions-HostVersion; the reply is an [InvokeResponse] as
// application/json, and any non-2xx status fails the invocation (a queue
// message is then delivered again, up to [MaxDequeueCount] times, and then
// moved to the poison queue). The host checks the status before it reads
// the body, so the Logs of a failed invocation never reach it: every
// failure is also logged to stderr, which the host collects. An empty 200
// body would leave the invocation hanging.
//
// ReportHttp is forwarded: the host passes the client's request unchanged,
// at its original path under /api (the default route prefix), and relays
// the reply. Those routes are the reports API:
//
//	POST /api/reports                    queue a run: 202, Location, the queued record
//	GET  /api/reports                    the runs, newest first (?top=, ?continuation=)
//	GET  /api/reports/{runId}            a run record ("latest": the newest with a workbook)
//	GET  /api/reports/{runId}/download   its workbook
//	GET  /api/reports/{runId}/tenants/{tenantId}/download   one tenant's workbook
//
// ReportEntra serves the same routes under /api/entra/reports to callers in
// other tenants. The host checks no key there: the handler authenticates
// every request with its Entra bearer token (package apiauth) and scopes it
// by the caller's app roles (RoleReadAll, RoleReadTenant, RoleRun) and the
// tenants [Entra.Callers] maps it to. A tenant-scoped caller lists only the
// runs that include its tenants, reads only their rows, and downloads only
// their per-tenant workbooks.
//
// Errors are JSON: {"error":{"code":"…","message":"…"}}; 401 and 403 also
// carry an RFC 6750 WWW-Authenticate challenge.
package customhandler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
)

// The Functions files this package answers for; handler/infra_test.go checks
// that ReportQueue/function.json and host.json agree.
const (
	// RunQueue is the Storage queue of run requests, in the
	// AzureWebJobsStorage account, that ReportQueue is triggered by.
	RunQueue = "tenantreport-runs"
	// QueueBinding is the name of ReportQueue's trigger binding.
	QueueBinding = "request"
	// MaxDequeueCount is host.json's extensions.queues.maxDequeueCount: the
	// delivery after which a failing run is recorded as failed.
	MaxDequeueCount = 5
	// timerBinding is the name of ReportTimer's trigger binding.
	timerBinding = "timer"
)

// Header names set by the host on every invocation.
const (
	HeaderInvocationID = "X-Azure-Functions-InvocationId"
	HeaderHostVersion  = "X-Azure-Functions-HostVersion"
)

// Runner runs reports. *run.Runner satisfies it.
type Runner interface {
	NewRequest(trigger string, tenants, sections []string) (run.Request, error)
	Run(ctx context.Context, req run.Request) (run.Record, error)
	Deliver(ctx context.Context, req run.Request, attempt, maxAttempts int) (run.Record, error)
}

// Store holds workbooks and run records. *reportstore.Store and
// *reportstore.Dir satisfy it.
type Store interface {
	Upload(ctx context.Context, name string, r io.Reader) error
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	Stat(ctx context.Context, name string) (reportstore.Item, error)
	List(ctx context.Context, prefix string) ([]reportstore.Item, error)
}

// Queue takes run requests for ReportQueue. *reportstore.Queue satisfies it.
type Queue interface {
	Send(ctx context.Context, msg []byte) error
}

// Config is what the handler serves with. Every field but Entra is
// required.
type Config struct {
	Runner Runner
	Store  Store
	Queue  Queue
	Logger *slog.Logger
	// Entra turns on the Entra-authenticated routes; nil answers them 404.
	Entra *Entra
}

// New returns the handler's routes.
func New(c Config) http.Handler {
	h := &handler{runner: c.Runner, store: c.Store, queue: c.Queue, log: c.Logger, entraCfg: c.Entra}
	mux := chi.NewRouter()
	mux.NotFound(func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "notFound", "no route "+r.Method+" "+r.URL.EscapedPath())
	})
	mux.Get("/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.Handle("/ReportTimer", methods{http.MethodPost: h.reportTimer})
	mux.Handle("/ReportQueue", methods{http.MethodPost: h.reportQueue})
	mux.Route(operatorBase, func(r chi.Router) { r.Use(operator); h.reportRoutes(r) })
	mux.Route(entraBase, func(r chi.Router) { r.Use(h.entra); h.reportRoutes(r) })
	return mux
}

// reportRoutes are the reports API, under either prefix.
func (h *handler) reportRoutes(r chi.Router) {
	r.Handle("/", methods{http.MethodGet: h.list, http.MethodPost: h.create})
	r.Handle("/{runId}", methods{http.MethodGet: h.show})
	r.Handle("/{runId}/download", methods{http.MethodGet: h.download})
	r.Handle("/{runId}/tenants/{tenantId}/download", methods{http.MethodGet: h.tenantDownload})
}

type handler struct {
	runner   Runner
	store    Store
	queue    Queue
	log      *slog.Logger
	entraCfg *Entra
}

// methods routes one path by method, answering any other with 405 and the
// Allow header.
type methods map[string]http.HandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := m[r.Method]; ok {
		h(w, r)
		return
	}
	var allow []string
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		if m[method] != nil {
			allow = append(allow, method)
		}
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	apiError(w, http.StatusMethodNotAllowed, "methodNotAllowed", r.Method+" is not allowed here; use "+strings.Join(allow, " or "))
}

// invocation decodes an invocation body to its end rather than trusting
// Content-Length: the host may send it chunked. It reads at most
// maxInvocationBytes (+1), whatever the sender sends, and checks the
// function's trigger binding and metadata (see decodeInvocation).
func invocation(r *http.Request) (invoked, error) {
	// nil ResponseWriter: the reply is the handler's to write (an
	// InvokeResponse, not net/http's plain-text 413).
	return decodeInvocation(r.URL.Path, http.MaxBytesReader(nil, r.Body, maxInvocationBytes))
}

func (h *handler) reportTimer(w http.ResponseWriter, r *http.Request) {
	log := h.log.With("invocation_id", r.Header.Get(HeaderInvocationID), "function", "ReportTimer")
	inv, err := invocation(r)
	if err != nil {
		log.ErrorContext(r.Context(), "bad invocation", "error", err)
		reply(w, http.StatusBadRequest, []string{err.Error()})
		return
	}
	log.InfoContext(r.Context(), "timer invocation", "past_due", inv.timer.IsPastDue)

	rec, err := h.runner.Run(r.Context(), run.Request{Trigger: "timer"})
	logs := recordLogs(rec)
	if err != nil {
		log.ErrorContext(r.Context(), "run failed", "error", err, "run_id", rec.RunID)
		status := failedStatus(r.Context())
		if errors.Is(err, run.ErrAllTenantsFailed) {
			// The report exists and says why; still fail the invocation so
			// the outage shows in monitoring.
			status = http.StatusBadGateway
		}
		reply(w, status, append(logs, "run failed: "+err.Error()))
		return
	}
	reply(w, http.StatusOK, logs)
}

// reportQueue executes a run request from the run queue. The message is
// acknowledged (200) when the run is done or was done before; any other
// outcome fails the invocation so the host delivers the message again. A
// run executing in another process is not a reason to acknowledge: that
// process may have died holding the run, so Deliver waits for it to finish
// or for its lease to lapse, and then runs it.
func (h *handler) reportQueue(w http.ResponseWriter, r *http.Request) {
	log := h.log.With("invocation_id", r.Header.Get(HeaderInvocationID), "function", "ReportQueue")
	inv, err := invocation(r)
	if err != nil {
		// A message that cannot be read never will be: after
		// MaxDequeueCount deliveries it rests in the poison queue, where an
		// operator sees it.
		log.ErrorContext(r.Context(), "bad queue invocation", "error", err)
		reply(w, http.StatusBadRequest, []string{err.Error()})
		return
	}
	req := inv.request
	log = log.With("run_id", req.RunID, "message_id", inv.messageID, "dequeue_count", inv.attempt)
	log.InfoContext(r.Context(), "run request")

	rec, err := h.runner.Deliver(r.Context(), req, inv.attempt, MaxDequeueCount)
	switch {
	case errors.Is(err, run.ErrFinished):
		reply(w, http.StatusOK, []string{fmt.Sprintf("run %s finished before (%s): nothing to do", req.RunID, rec.State)})
	case err != nil:
		log.ErrorContext(r.Context(), "run failed", "error", err, "state", rec.State)
		reply(w, failedStatus(r.Context()), append(recordLogs(rec), "run failed: "+err.Error()))
	default:
		reply(w, http.StatusOK, recordLogs(rec))
	}
}

// failedStatus is the status of a failed invocation: 503 when it was
// stopped (the handler is shutting down and cancelled it; the record says
// what was cut short, and a queue message is delivered again), else 500.
// Either fails the invocation; the difference is for whoever reads the
// host's logs.
func failedStatus(ctx context.Context) int {
	if ctx.Err() != nil {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// recordLogs are the lines the host shows in the invocation's log.
func recordLogs(rec run.Record) []string {
	var logs []string
	if rec.RunID != "" {
		logs = append(logs, fmt.Sprintf("run %s: %s, %d tenants", rec.RunID, rec.State, len(rec.Tenants)))
	}
	for _, t := range rec.Tenants {
		if t.Status == run.StatusOK {
			logs = append(logs, fmt.Sprintf("tenant %s (%s): ok, %d users", t.DisplayName, t.TenantID, t.Users))
		} else {
			logs = append(logs, fmt.Sprintf("tenant %s (%s): %s: %s", t.DisplayName, t.TenantID, t.Status, t.Error))
		}
	}
	if rec.HasReport() {
		logs = append(logs, fmt.Sprintf("report %s (%d bytes)", rec.Report, rec.ReportBytes))
	}
	if n := rec.TenantWorkbooks(); n > 0 {
		logs = append(logs, fmt.Sprintf("tenant workbooks: %d of %d tenants, in %s/", n, len(rec.Tenants), strings.TrimSuffix(rec.Report, ".xlsx")))
	}
	return logs
}

func reply(w http.ResponseWriter, status int, logs []string) {
	if logs == nil {
		logs = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(InvokeResponse{Outputs: map[string]any{}, Logs: logs})
}
