package customhandler

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// API limits.
const (
	maxBodyBytes = 64 << 10
	defaultTop   = 50
	maxTop       = 500
	// retryAfter is how long, in seconds, a caller should wait before
	// polling a queued run: a report of a few tenants takes about that.
	retryAfter = "10"
	// latest names the newest run that produced a workbook.
	latest   = "latest"
	xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)

// apiError writes the API's JSON error.
func apiError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// runRequestBody is the optional body of POST /api/reports.
type runRequestBody struct {
	Tenants  []string `json:"tenants"`
	Sections []string `json:"sections"`
}

// create queues a run: the record is written first (state queued), then the
// request is sent, so a run that is visible in the queue always has a
// record to report to.
func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	a := accessOf(r)
	if !a.run {
		forbid(w, "starting runs needs the app role "+RoleRun)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		apiError(w, http.StatusBadRequest, "invalidBody", "reading the body: "+err.Error())
		return
	}
	if len(body) > maxBodyBytes {
		apiError(w, http.StatusBadRequest, "bodyTooLarge", fmt.Sprintf("the body is over %d bytes", maxBodyBytes))
		return
	}
	if bytes.HasPrefix(body, []byte("\ufeff")) {
		// encoding/json would say "invalid character 'ï'".
		apiError(w, http.StatusBadRequest, "invalidBody", "the body starts with a byte order mark (U+FEFF), which JSON does not allow")
		return
	}
	var in runRequestBody
	// JSON's whitespace only: bytes.TrimSpace would also take a body of
	// Unicode spaces (U+00A0, U+0085) for an empty one.
	if len(bytes.Trim(body, " \t\r\n")) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			// jsonProblem: in JSON's terms, not Go's ("Go struct field
			// runRequestBody.tenants of type []string").
			apiError(w, http.StatusBadRequest, "invalidBody", `the body is not {"tenants":[…],"sections":[…]}: `+jsonProblem(err))
			return
		}
		// Not dec.More: it reports false for a stray "}" or "]".
		if _, err := dec.Token(); err != io.EOF {
			apiError(w, http.StatusBadRequest, "invalidBody", "the body has data after its JSON object")
			return
		}
	}
	if !a.all {
		// A tenant-scoped caller runs its own tenants: all of them unless
		// it names some.
		if len(a.tenants) == 0 {
			forbid(w, fmt.Sprintf("caller %s has no tenants to run: the operator maps it to its tenants in REPORT_API_CALLERS", a.caller.AppID))
			return
		}
		if len(in.Tenants) == 0 {
			in.Tenants = a.tenants
		}
		for i, id := range in.Tenants {
			if !slices.Contains(a.tenants, strings.ToLower(strings.TrimSpace(id))) {
				forbid(w, fmt.Sprintf("tenants[%d]: caller %s may not run tenant %s", i, a.caller.AppID, quoteValue(id, 60)))
				return
			}
		}
	}
	req, err := h.runner.NewRequest("http", in.Tenants, in.Sections)
	if err != nil {
		apiError(w, http.StatusBadRequest, "invalidRequest", problems(err))
		return
	}
	log := h.log.With("run_id", req.RunID)
	rec := run.QueuedRecord(req)
	if err := h.store.Upload(r.Context(), run.RecordName(req.RunID), run.EncodeRecord(rec)); err != nil {
		log.ErrorContext(r.Context(), "run record not written", "error", err)
		apiError(w, http.StatusServiceUnavailable, "storageUnavailable", "the run record could not be written; try again")
		return
	}
	msg, _ := json.Marshal(req) // a Request always marshals
	if err := h.queue.Send(r.Context(), msg); err != nil {
		log.ErrorContext(r.Context(), "run request not queued", "error", err)
		rec.State, rec.Reason = run.StateFailed, "the run request could not be queued"
		if err := h.store.Upload(context.WithoutCancel(r.Context()), run.RecordName(req.RunID), run.EncodeRecord(rec)); err != nil {
			log.ErrorContext(r.Context(), "run record not updated", "error", err)
		}
		apiError(w, http.StatusServiceUnavailable, "queueUnavailable", "the run could not be queued; try again")
		return
	}
	log.InfoContext(r.Context(), "run queued", "tenants", req.Tenants, "sections", req.Sections)
	w.Header().Set("Location", a.base+"/"+req.RunID)
	w.Header().Set("Retry-After", retryAfter)
	// Not a.view: a queued record holds the request alone, which names only
	// the caller's tenants, and a Reports.Run caller may lack a read role.
	writeJSON(w, http.StatusAccepted, rec)
}

// maxProblems is how many of a request's problems a reply lists: a body
// of 64 KiB holds thousands of bad names, and the first few say what to fix.
const maxProblems = 10

// problems is the message of a joined error: its first maxProblems lines,
// joined with "; ", and how many more there are.
func problems(err error) string {
	lines := strings.Split(err.Error(), "\n")
	if n := len(lines) - maxProblems; n > 0 {
		lines = append(lines[:maxProblems], fmt.Sprintf("and %d more", n))
	}
	return strings.Join(lines, "; ")
}

// quoteValue quotes a caller's value for a message, cut to its first max
// bytes: the value may be as long as the server's 1 MB header limit, and
// %.Nq would bound runes, not bytes (each invalid byte quotes as \xNN).
func quoteValue(v string, max int) string {
	c, cutShort := cut(v, max)
	if cutShort {
		return strconv.Quote(c) + "…"
	}
	return strconv.Quote(c)
}

// list answers the runs, newest first, a page at a time.
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	a := accessOf(r)
	if !a.canRead(w) {
		return
	}
	q := r.URL.Query()
	top := defaultTop
	if v := q.Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTop {
			apiError(w, http.StatusBadRequest, "invalidTop", fmt.Sprintf("top: want a whole number from 1 to %d, got %s", maxTop, quoteValue(v, 40)))
			return
		}
		top = n
	}
	var after string
	if v := q.Get("continuation"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || !run.ValidRunID(string(b)) {
			apiError(w, http.StatusBadRequest, "invalidContinuation", fmt.Sprintf("continuation: not a token this API returned: %s", quoteValue(v, 60)))
			return
		}
		after = string(b)
	}
	// A tenant-scoped caller's page skips the runs without its tenants, so
	// it may take several pages of records to fill.
	var runs []runSummary
	more := true
	for more && len(runs) < top {
		recs, m, err := run.ListRecords(r.Context(), h.store, top-len(runs), after)
		if err != nil {
			h.log.ErrorContext(r.Context(), "run records not listed", "error", err)
			apiError(w, http.StatusServiceUnavailable, "storageUnavailable", "the runs could not be listed; try again")
			return
		}
		for _, rec := range recs {
			if a.includes(rec) {
				runs = append(runs, runSummary{a.view(rec).Summary(), a.base + "/" + rec.RunID})
			}
		}
		if len(recs) > 0 {
			after = recs[len(recs)-1].RunID
		}
		more = m && len(recs) > 0
	}
	page := struct {
		Runs         []runSummary `json:"runs"`
		Continuation string       `json:"continuation,omitempty"`
	}{Runs: runs}
	if page.Runs == nil {
		page.Runs = []runSummary{}
	}
	if more {
		page.Continuation = base64.RawURLEncoding.EncodeToString([]byte(after))
		w.Header().Set("Link", fmt.Sprintf(`<%s?top=%d&continuation=%s>; rel="next"`, a.base, top, page.Continuation))
	}
	writeJSON(w, http.StatusOK, page)
}

// runSummary is a run in the list, with the URL of its record.
type runSummary struct {
	run.Summary
	URL string `json:"url"`
}

// record reads the record the URL names, writing the error reply itself
// when there is none or the caller may not read it. "latest" names the
// newest run that the caller may read and keep accepts.
func (h *handler) record(w http.ResponseWriter, r *http.Request, keep func(run.Record) bool) (run.Record, bool) {
	a := accessOf(r)
	id := chi.URLParam(r, "runId")
	if !a.canRead(w) {
		return run.Record{}, false
	}
	var (
		rec run.Record
		err error
	)
	switch {
	case id == latest:
		rec, err = run.LatestWhere(r.Context(), h.store, func(rec run.Record) bool { return a.includes(rec) && keep(rec) })
	case !run.ValidRunID(id):
		// Checked before anything touches storage: an id is the only part
		// of a blob name a caller chooses.
		apiError(w, http.StatusBadRequest, "invalidRunId", fmt.Sprintf("%s is not a run id (like 20261201T060000123Z-1a2b3c) or %q", quoteValue(id, 60), latest))
		return rec, false
	default:
		rec, err = run.ReadRecord(r.Context(), h.store, id)
	}
	switch {
	case errors.Is(err, reportstore.ErrNotFound):
		apiError(w, http.StatusNotFound, "runNotFound", "no run "+id)
		return rec, false
	case err != nil:
		h.log.ErrorContext(r.Context(), "run record not read", "error", err)
		apiError(w, http.StatusServiceUnavailable, "storageUnavailable", "the run record could not be read; try again")
		return rec, false
	}
	a.runID = rec.RunID
	if !a.includes(rec) {
		forbid(w, fmt.Sprintf("run %s includes none of the tenants caller %s may read", rec.RunID, a.caller.AppID))
		return rec, false
	}
	return rec, true
}

func (h *handler) show(w http.ResponseWriter, r *http.Request) {
	if rec, ok := h.record(w, r, run.Record.WorkbookReady); ok {
		writeJSON(w, http.StatusOK, accessOf(r).view(rec))
	}
}

// download streams a run's combined workbook, which holds every tenant.
func (h *handler) download(w http.ResponseWriter, r *http.Request) {
	if a := accessOf(r); !a.all {
		if a.canRead(w) {
			forbid(w, fmt.Sprintf("the combined workbook holds every tenant and needs the app role %s; download your tenants' workbooks from %s/{runId}/tenants/{tenantId}/download", RoleReadAll, a.base))
		}
		return
	}
	rec, ok := h.record(w, r, run.Record.WorkbookReady)
	if !ok {
		return
	}
	if !rec.WorkbookReady() {
		noWorkbook(w, rec, fmt.Sprintf("run %s is %s and has no workbook", rec.RunID, rec.State))
		return
	}
	h.serveWorkbook(w, r, rec.Report, run.DownloadName(rec.RunID), fmt.Sprintf("run %s's workbook", rec.RunID))
}

// tenantDownload streams one tenant's workbook of a run.
func (h *handler) tenantDownload(w http.ResponseWriter, r *http.Request) {
	a := accessOf(r)
	id := strings.ToLower(chi.URLParam(r, "tenantId"))
	if !settings.IsGUID(id) {
		// Checked before anything touches storage, like the run id.
		apiError(w, http.StatusBadRequest, "invalidTenantId", fmt.Sprintf("%s is not a tenant id (a GUID)", quoteValue(chi.URLParam(r, "tenantId"), 60)))
		return
	}
	if !a.canRead(w) {
		return
	}
	if !a.mayRead(id) {
		forbid(w, fmt.Sprintf("caller %s may not read tenant %s", a.caller.AppID, id))
		return
	}
	hasWorkbook := func(rec run.Record) bool { return rec.TenantWorkbookReady(id) }
	rec, ok := h.record(w, r, hasWorkbook)
	if !ok {
		return
	}
	t, ok := rec.Tenant(id)
	switch {
	case !ok && rec.State.Finished():
		apiError(w, http.StatusNotFound, "tenantNotInRun", fmt.Sprintf("run %s has no tenant %s", rec.RunID, id))
		return
	case !hasWorkbook(rec):
		noWorkbook(w, rec, fmt.Sprintf("run %s is %s and has no workbook for tenant %s", rec.RunID, rec.State, id))
		return
	}
	h.serveWorkbook(w, r, t.Report, run.TenantDownloadName(rec.RunID, t.DisplayName, id),
		fmt.Sprintf("run %s's workbook for tenant %s", rec.RunID, id))
}

// noWorkbook answers 409: the run has no such workbook (yet, or ever).
func noWorkbook(w http.ResponseWriter, rec run.Record, message string) {
	writeJSON(w, http.StatusConflict, map[string]any{
		"error": map[string]string{"code": "noWorkbook", "message": message},
		"state": rec.State,
	})
}

// serveWorkbook streams the workbook stored as name, offered as filename;
// what names it in messages.
func (h *handler) serveWorkbook(w http.ResponseWriter, r *http.Request, name, filename, what string) {
	item, err := h.store.Stat(r.Context(), name)
	if errors.Is(err, reportstore.ErrNotFound) {
		apiError(w, http.StatusNotFound, "workbookNotFound", what+" is no longer stored")
		return
	}
	if err != nil {
		h.log.ErrorContext(r.Context(), "workbook not read", "error", err, "blob", name)
		apiError(w, http.StatusServiceUnavailable, "storageUnavailable", "the workbook could not be read; try again")
		return
	}
	hdr := w.Header()
	hdr.Set("ETag", item.ETag)
	hdr.Set("Last-Modified", item.LastModified.UTC().Format(http.TimeFormat))
	hdr.Set("Cache-Control", "private, no-cache")
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, item.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	rc, err := h.store.Open(r.Context(), name)
	if err != nil {
		h.log.ErrorContext(r.Context(), "workbook not opened", "error", err, "blob", name)
		apiError(w, http.StatusServiceUnavailable, "storageUnavailable", "the workbook could not be read; try again")
		return
	}
	defer rc.Close()
	hdr.Set("Content-Type", xlsxType)
	hdr.Set("Content-Length", strconv.FormatInt(item.Size, 10))
	hdr.Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		// The status is sent: all that is left is to cut the body short,
		// which the client sees as fewer bytes than Content-Length.
		h.log.WarnContext(r.Context(), "workbook download cut short", "error", err, "blob", name)
	}
}

// etagMatch reports whether an If-None-Match header value matches etag
// (weak comparison, as RFC 9110 §13.1.2 asks for If-None-Match).
func etagMatch(header, etag string) bool {
	weak := func(s string) string { return strings.TrimPrefix(strings.TrimSpace(s), "W/") }
	for _, candidate := range strings.Split(header, ",") {
		if c := strings.TrimSpace(candidate); c == "*" || weak(c) == weak(etag) {
			return true
		}
	}
	return false
}
