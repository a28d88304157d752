// Package customhandler speaks the Azure Functions custom-handler protocol.
//
// # Contract
//
// The host starts the handler with FUNCTIONS_CUSTOMHANDLER_PORT and treats
// any answer to GET / as ready. A timer invocation arrives as
// POST /ReportTimer with an [InvokeRequest] body and the headers
// X-Azure-Functions-InvocationId and X-Azure-Functions-HostVersion; the reply
// is an [InvokeResponse] as application/json, and any non-2xx status fails
// the invocation. An empty 200 body would leave the invocation hanging.
package customhandler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/tenantreport/tenantreport/internal/run"
)

// Runner runs one report. *run.Runner satisfies it.
type Runner interface {
	Run(ctx context.Context, trigger string) (run.Record, error)
}

// Header names set by the host on every invocation.
const (
	HeaderInvocationID = "X-Azure-Functions-InvocationId"
	HeaderHostVersion  = "X-Azure-Functions-HostVersion"
)

// timerBinding is the name of the trigger binding in ReportTimer/function.json.
const timerBinding = "timer"

// New returns the handler's routes.
func New(r Runner, log *slog.Logger) http.Handler {
	h := &handler{runner: r, log: log}
	mux := chi.NewRouter()
	mux.Get("/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.Post("/ReportTimer", h.reportTimer)
	return mux
}

type handler struct {
	runner Runner
	log    *slog.Logger
}

func (h *handler) reportTimer(w http.ResponseWriter, r *http.Request) {
	log := h.log.With("invocation_id", r.Header.Get(HeaderInvocationID), "function", "ReportTimer")
	// Decode the body to its end rather than trusting Content-Length: the
	// host may send it chunked.
	var req InvokeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		log.ErrorContext(r.Context(), "bad invocation", "error", err)
		reply(w, http.StatusBadRequest, []string{"customhandler: invocation body: " + err.Error()})
		return
	}
	var timer TimerInfo
	if raw, ok := req.Data[timerBinding]; ok {
		if err := Decode(raw, &timer); err != nil {
			log.ErrorContext(r.Context(), "bad timer binding", "error", err)
			reply(w, http.StatusBadRequest, []string{err.Error()})
			return
		}
	}
	log.InfoContext(r.Context(), "timer invocation", "past_due", timer.IsPastDue)

	rec, err := h.runner.Run(r.Context(), "timer")
	logs := recordLogs(rec)
	if err != nil {
		log.ErrorContext(r.Context(), "run failed", "error", err, "run_id", rec.RunID)
		status := http.StatusInternalServerError
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

// recordLogs are the lines the host shows in the invocation's log.
func recordLogs(rec run.Record) []string {
	var logs []string
	if rec.RunID != "" {
		logs = append(logs, fmt.Sprintf("run %s: %d tenants", rec.RunID, len(rec.Tenants)))
	}
	for _, t := range rec.Tenants {
		if t.Status == run.StatusOK {
			logs = append(logs, fmt.Sprintf("tenant %s (%s): ok, %d users", t.DisplayName, t.TenantID, t.Users))
		} else {
			logs = append(logs, fmt.Sprintf("tenant %s (%s): %s: %s", t.DisplayName, t.TenantID, t.Status, t.Error))
		}
	}
	if rec.ReportBytes > 0 {
		logs = append(logs, fmt.Sprintf("report %s (%d bytes)", rec.Report, rec.ReportBytes))
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
