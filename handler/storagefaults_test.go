package main

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tenantreport/tenantreport/internal/azuritetest"
	"github.com/tenantreport/tenantreport/internal/reportstore"
)

// stoppedStorage starts a private Azurite and stops it: its connection
// string points where nothing listens any more. It returns the server (to
// start again) and the settings that point a handler at it.
func stoppedStorage(t *testing.T) (*azuritetest.Server, string, []string) {
	t.Helper()
	srv := azuritetest.StartServer(t)
	srv.Stop()
	container := azuritetest.Container(t)
	return srv, container, []string{"AzureWebJobsStorage=" + srv.ConnectionString(), "REPORT_CONTAINER=" + container}
}

// nothingStored starts srv again and checks that the container holds
// nothing: the failed start wrote no record and no workbook.
func nothingStored(t *testing.T, srv *azuritetest.Server, container string) {
	t.Helper()
	srv.Start()
	st, err := reportstore.NewFromConnectionString(srv.ConnectionString(), container, nil)
	if err != nil {
		t.Fatal(err)
	}
	if items, err := st.List(t.Context(), ""); err != nil || len(items) != 0 {
		t.Errorf("List after restart = %v, %v; want nothing stored", items, err)
	}
}

// TestRunStorageDown: `handler run` with its storage down fails in
// seconds (the blob client's bounded retries) with one error naming the
// storage endpoint, and reads no tenant.
func TestRunStorageDown(t *testing.T) {
	bin := handlerBinary(t)
	srv, container, storageEnv := stoppedStorage(t)
	cmd := exec.CommandContext(t.Context(), bin, "run")
	cmd.Env = append(startEmulate(t), storageEnv...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err == nil {
		t.Fatalf("run succeeded with storage down:\n%s", out)
	}
	t.Logf("run failed in %v: %s", took.Round(time.Millisecond), strings.TrimSpace(string(out)))
	if n := strings.Count(string(out), "storage unreachable"); n != 1 || !strings.Contains(string(out), srv.BlobEndpoint()) {
		t.Errorf("run printed %d mentions of storage unreachable, want one naming %s:\n%s", n, srv.BlobEndpoint(), out)
	}
	if regexp.MustCompile(`\[\d+/\d+\]`).Match(out) {
		t.Errorf("run read tenants with storage down:\n%s", out)
	}
	azuritetest.NoSecrets(t, "run's output", string(out))
	nothingStored(t, srv, container)
}

// TestTimerStorageDown: a timer invocation while storage is down fails
// the invocation (a non-2xx reply) with the storage error in its logs and
// on stderr, and leaves nothing half-written.
func TestTimerStorageDown(t *testing.T) {
	handlerBinary(t)
	srv, container, storageEnv := stoppedStorage(t)
	h := startHandler(t, append(startEmulate(t), storageEnv...))

	body := `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}`
	start := time.Now()
	resp, reply, err := h.post(t.Context(), "/ReportTimer", body)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("POST /ReportTimer = %d in %v: %s", resp.StatusCode, time.Since(start).Round(time.Millisecond), reply)
	if resp.StatusCode < 300 {
		t.Errorf("POST /ReportTimer = %d, want a failed invocation", resp.StatusCode)
	}
	var ir struct{ Logs []string }
	if err := json.Unmarshal(reply, &ir); err != nil {
		t.Fatalf("reply %s: %v", reply, err)
	}
	if logs := strings.Join(ir.Logs, "\n"); !strings.Contains(logs, "storage unreachable") || !strings.Contains(logs, srv.BlobEndpoint()) {
		t.Errorf("reply logs = %q, want storage unreachable at %s", ir.Logs, srv.BlobEndpoint())
	}
	if err := h.stop(t); err != nil {
		t.Errorf("handler after SIGTERM: %v, want exit 0", err)
	}
	if !strings.Contains(h.logs(), "storage unreachable") {
		t.Errorf("stderr does not say storage is unreachable:\n%s", h.logs())
	}
	azuritetest.NoSecrets(t, "the reply", string(reply))
	azuritetest.NoSecrets(t, "stderr", h.logs())
	nothingStored(t, srv, container)
}
