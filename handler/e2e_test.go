package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/xuri/excelize/v2"

	"github.com/tenantreport/tenantreport/internal/azuritetest"
	"github.com/tenantreport/tenantreport/internal/customhandler"
	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/runtest"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// handlerBinary is bin/handler, built once by the test command.
func handlerBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("TENANTREPORT_HANDLER_BIN")
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TENANTREPORT_HANDLER_BIN is not set: run the tests with make test")
		}
		t.Skip("TENANTREPORT_HANDLER_BIN is not set: run the tests with make test")
	}
	return bin
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// handlerProc is a running `handler serve`, started as the Functions host
// starts it.
type handlerProc struct {
	cmd    *exec.Cmd
	url    string
	mu     sync.Mutex
	stderr bytes.Buffer
	ready  chan struct{}
	exited chan error
}

func (p *handlerProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// stop sends SIGTERM and waits for the handler to exit. Its logs are then
// complete: read while it runs, they may lack the lines of a reply just
// received.
func (p *handlerProc) stop(t *testing.T) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return <-p.exited
}

// post POSTs the JSON body to path as the host does: a function's
// invocation (/ReportTimer, /ReportQueue) with the host's invocation
// headers, a forwarded API request (/api/…) as the caller sent it. The
// error is the connection's, as when the handler is killed mid-request.
func (p *handlerProc) post(ctx context.Context, path, body string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+path, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if !strings.HasPrefix(path, "/api/") {
		req.Header.Set(customhandler.HeaderInvocationID, "0f6b5c2d-7e8f-4a1b-9c3d-2e4f6a8b0c1d")
		req.Header.Set(customhandler.HeaderHostVersion, "4.1042.0.0")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	return resp, reply, err
}

// startHandler starts the binary with env and returns once it has said it
// is serving (or fails the test if it exits first).
func startHandler(t *testing.T, env []string) *handlerProc {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(handlerBinary(t), "serve")
	// A proxy that refuses every connection: any request to a host other
	// than loopback (the emulator, Azurite) fails instead of leaking out.
	cmd.Env = append(env, "FUNCTIONS_CUSTOMHANDLER_PORT="+port, "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "PATH="+os.Getenv("PATH"))
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &handlerProc{cmd: cmd, url: "http://127.0.0.1:" + port, ready: make(chan struct{}), exited: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		once := sync.Once{}
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if strings.Contains(sc.Text(), "msg=serving") {
				once.Do(func() { close(p.ready) })
			}
		}
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	select {
	case <-p.ready:
	case err := <-p.exited:
		p.exited <- err
		t.Fatalf("handler exited before serving: %v\n%s", err, p.logs())
	case <-t.Context().Done():
		t.Fatal("handler did not start")
	}
	return p
}

func emulatorEnv(t *testing.T, em *emulator.Running) []string {
	t.Helper()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, em.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range em.Env(caFile) {
		env = append(env, kv[0]+"="+kv[1])
	}
	return env
}

// sampleWorldOnAzurite serves the sample world on the emulator and returns
// the settings that point serve at it and at a container of its own on
// Azurite.
func sampleWorldOnAzurite(t *testing.T) (world *emulator.World, conn, container string, env []string) {
	t.Helper()
	conn, container = azuritetest.ConnectionString(t), azuritetest.Container(t)
	world = emulator.SampleWorld()
	em, err := emulator.Start(world)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	return world, conn, container, append(emulatorEnv(t, em), "AzureWebJobsStorage="+conn, "REPORT_CONTAINER="+container)
}

// combinedName is the name of a run's combined workbook; each tenant's own
// is reports/YYYY/MM/DD/<runId>/<tenantId>.xlsx.
var combinedName = regexp.MustCompile(`^reports/\d{4}/\d{2}/\d{2}/[^/]+\.xlsx$`)

// workbooksOf are the workbooks rec names, in name order: the combined one
// and each tenant's own.
func workbooksOf(rec run.Record) []string {
	names := []string{rec.Report}
	for _, t := range rec.Tenants {
		names = append(names, t.Report)
	}
	slices.Sort(names)
	return names
}

// timerInvocation is ReportTimer's invocation as the host sends it
// (DESIGN.md §3): the sys metadata's strings are JSON in JSON.
const timerInvocation = `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"2026-11-21T06:00:00+00:00","Next":"2026-11-22T06:00:00+00:00","LastUpdated":"2026-11-21T06:00:00.0039523+00:00"},"IsPastDue":false}},` +
	`"Metadata":{"sys":{"MethodName":"ReportTimer","UtcNow":"\"2026-11-22T06:00:00.0012345Z\"","RandGuid":"\"1b0e5c0e-4f3a-4a57-9d38-5e1bb7a0c001\""}}}`

// TestTimerInvocationEndToEnd runs serve against the emulator and Azurite,
// POSTs a timer invocation exactly as the host sends it, and reads the
// workbook back from blob storage.
func TestTimerInvocationEndToEnd(t *testing.T) {
	world, conn, container, env := sampleWorldOnAzurite(t)
	identityHeader := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "IDENTITY_HEADER="); ok {
			identityHeader = v
		}
	}
	h := startHandler(t, env)

	resp, reply, err := h.post(t.Context(), "/ReportTimer", timerInvocation)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("POST /ReportTimer = %d %s %s\nlogs:\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), reply, h.logs())
	}
	var ir struct {
		Outputs     map[string]any
		Logs        []string
		ReturnValue any
	}
	if err := json.Unmarshal(reply, &ir); err != nil || ir.Outputs == nil {
		t.Fatalf("reply %s: %v", reply, err)
	}

	store, err := reportstore.NewFromConnectionString(conn, container, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := runtest.Names(t, store, "reports/")
	combined := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !combinedName.MatchString(n) })
	if len(combined) != 1 || len(names) != 1+len(world.Tenants) {
		t.Fatalf("workbooks = %q, want one reports/YYYY/MM/DD/<runId>.xlsx and each tenant's own", names)
	}
	f := runtest.Workbook(t, store, combined[0])
	checkSampleReport(t, world, f)

	records, err := store.List(t.Context(), "runs/")
	if err != nil || len(records) != 1 {
		t.Fatalf("List(runs/) = %v, %v; want one run record", records, err)
	}
	rc, err := store.Open(t.Context(), records[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	var rec run.Record
	if err := json.NewDecoder(rc).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if rec.Report != combined[0] || rec.Trigger != "timer" || len(rec.Tenants) != len(world.Tenants) {
		t.Errorf("run record = %+v, want trigger timer, report %s and %d tenants", rec, combined[0], len(world.Tenants))
	}
	if got := workbooksOf(rec); !slices.Equal(got, names) {
		t.Errorf("the record names workbooks %q, want those stored, %q", got, names)
	}

	// Graceful shutdown on SIGTERM, exit status 0.
	if err := h.stop(t); err != nil {
		t.Errorf("handler after SIGTERM: %v, want exit 0", err)
	}
	logs := h.logs()
	if !strings.Contains(logs, "AADSTS700016") {
		t.Errorf("logs do not name the failed tenant's AADSTS code:\n%s", logs)
	}
	// No token, assertion or key in any log line: JWTs start with eyJ.
	for _, secret := range []string{"eyJ", identityHeader, "AccountKey", "Eby8vdM02x"} {
		if secret != "" && (strings.Contains(logs, secret) || strings.Contains(string(reply), secret)) {
			t.Errorf("logs or reply contain %q:\n%s\n%s", secret, logs, reply)
		}
	}
}

// checkSampleReport checks the Summary and Users sheets against the world,
// for a run of sections (nil: all).
func checkSampleReport(t *testing.T, world *emulator.World, f *excelize.File, sections ...string) {
	t.Helper()
	summary, err := f.GetRows("Summary", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(summary) != len(world.Tenants)+2 || len(summary[len(summary)-1]) == 0 || !strings.HasPrefix(summary[len(summary)-1][0], "All ") {
		t.Fatalf("Summary has %d rows, want a header, %d tenants and the totals row: %q", len(summary), len(world.Tenants), summary)
	}
	wantUsers := 0
	byID := map[string][]string{}
	for _, row := range summary[1 : len(summary)-1] {
		byID[row[1]] = row
	}
	at := func(row []string, header string) string {
		i := slices.Index(summary[0], header)
		if i < 0 || i >= len(row) {
			return ""
		}
		return row[i]
	}
	for _, tn := range world.Tenants {
		row := byID[tn.ID]
		if row == nil {
			t.Errorf("Summary has no row for %s (%s)", tn.DisplayName, tn.ID)
			continue
		}
		if tn.AppProvisioned != nil && !*tn.AppProvisioned {
			if at(row, "Status") != "failed" || !strings.Contains(at(row, "Notes"), "AADSTS700016") || !strings.Contains(at(row, "Notes"), "consent") {
				t.Errorf("Summary row of unconsented %s = %q, want failed with AADSTS700016 and the consent fix", tn.DisplayName, row)
			}
			continue
		}
		want := world.Expect(tn.ID)
		wantUsers += want.Users
		// ok only when every section of the run was read.
		status := "ok"
		if sections == nil {
			sections = settings.AllSections()
		}
		for _, sec := range sections {
			if world.ExpectSection(tn.ID, sec).NotAvailable != "" {
				status = "partial"
			}
		}
		got := []string{at(row, "Status"), at(row, "Users (incl. guests)"), at(row, "Enabled users"), at(row, "Guests")}
		exp := []string{status, strconv.Itoa(want.Users), strconv.Itoa(want.EnabledUsers), strconv.Itoa(want.Guests)}
		if !slices.Equal(got, exp) {
			t.Errorf("Summary row of %s = %q, want status,users,enabled,guests = %q", tn.DisplayName, got, exp)
		}
	}
	users, err := f.GetRows("Users")
	if err != nil {
		t.Fatal(err)
	}
	if len(users)-1 != wantUsers {
		t.Errorf("Users has %d rows, want %d", len(users)-1, wantUsers)
	}
	if len(users) > 0 && (users[0][0] != "Tenant" || users[0][1] != "Tenant ID") {
		t.Errorf("Users header = %q, want Tenant and Tenant ID first", users[0])
	}
}

// TestServeRefusesBadSettings checks that a configuration error stops the
// handler at start with a non-zero status and names the setting and value.
func TestServeRefusesBadSettings(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), handlerBinary(t), "serve")
	cmd.Env = []string{"FUNCTIONS_CUSTOMHANDLER_PORT=" + freePort(t), "REPORT_TENANTS=[{\"tenantId\":\"contoso.com\"}]", "BRIDGE_APP_CLIENT_ID=00000000-0000-0000-0000-0000000000aa"}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("serve with bad settings: %v, want a non-zero exit", err)
	}
	if !strings.Contains(string(out), "REPORT_TENANTS[0].tenantId") || !strings.Contains(string(out), "contoso.com") {
		t.Errorf("output %q, want it to name REPORT_TENANTS[0].tenantId and contoso.com", out)
	}
}

// TestDemo runs the README's demo command and opens what it wrote.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), handlerBinary(t), "demo", "--out", dir)
	cmd.Env = []string{"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "PATH=" + os.Getenv("PATH"), "TMPDIR=" + t.TempDir()}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	m := regexp.MustCompile(`report: (reports/\S+\.xlsx)`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("demo output does not name the report:\n%s", stdout.String())
	}
	f, err := excelize.OpenFile(filepath.Join(dir, filepath.FromSlash(m[1])))
	if err != nil {
		t.Fatalf("demo report does not open: %v", err)
	}
	defer f.Close()
	world := emulator.SampleWorld()
	checkSampleReport(t, world, f)
	for _, tn := range world.Tenants {
		if !strings.Contains(stdout.String(), tn.DisplayName) {
			t.Errorf("demo summary table does not list %s:\n%s", tn.DisplayName, stdout.String())
		}
	}
	if strings.Contains(stdout.String()+stderr.String(), "eyJ") {
		t.Errorf("demo output contains a token:\n%s\n%s", stdout.String(), stderr.String())
	}
}

// startEmulate starts `handler emulate` and returns the settings it
// printed, as KEY=value lines.
func startEmulate(t *testing.T) []string {
	t.Helper()
	bin := handlerBinary(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	em := exec.Command(bin, "emulate", "--ca-file", caFile)
	em.Env = []string{"PATH=" + os.Getenv("PATH")}
	stdout, err := em.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var emErr bytes.Buffer
	em.Stderr = &emErr
	if err := em.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Process.Kill(); em.Wait() })

	want := []string{"REPORT_GRAPH_TIME_SCALE", "REPORT_TENANTS", "BRIDGE_APP_CLIENT_ID", "MANAGED_IDENTITY_CLIENT_ID", "IDENTITY_ENDPOINT",
		"IDENTITY_HEADER", "REPORT_AUTHORITY_HOST", "REPORT_GRAPH_ENDPOINT", "REPORT_CA_FILE"}
	got := map[string]string{}
	var env []string
	sc := bufio.NewScanner(stdout)
	for len(got) < len(want) && sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || k == "" {
			t.Fatalf("emulate printed %q, want KEY=value lines only", sc.Text())
		}
		got[k] = v
		env = append(env, sc.Text())
	}
	for _, k := range want {
		if got[k] == "" {
			t.Fatalf("emulate did not print %s (stderr: %s)", k, emErr.String())
		}
	}
	if got["REPORT_CA_FILE"] != caFile {
		t.Errorf("REPORT_CA_FILE = %q, want %q", got["REPORT_CA_FILE"], caFile)
	}
	return append(env, "PATH="+os.Getenv("PATH"), "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9")
}

// TestEmulateThenRun runs `handler run` with exactly the settings
// `handler emulate` printed.
func TestEmulateThenRun(t *testing.T) {
	bin := handlerBinary(t)
	env := startEmulate(t)
	out := t.TempDir()
	cmd := exec.CommandContext(t.Context(), bin, "run", "--out", out)
	cmd.Env = env
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, res)
	}
	world := emulator.SampleWorld()
	for _, tn := range world.Tenants {
		if !regexp.MustCompile(`\[\d/3\] ` + regexp.QuoteMeta(tn.DisplayName)).Match(res) {
			t.Errorf("run printed no progress line for %s:\n%s", tn.DisplayName, res)
		}
	}
	m := regexp.MustCompile(`report: (reports/\S+\.xlsx)`).FindSubmatch(res)
	if m == nil {
		t.Fatalf("run did not name its report:\n%s", res)
	}
	f, err := excelize.OpenFile(filepath.Join(out, filepath.FromSlash(string(m[1]))))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkSampleReport(t, world, f)
}

// TestRunWithoutManagedIdentity: when the managed identity endpoint does
// not answer, `handler run` fails once, saying so, without asking any
// tenant, and its run record says why.
func TestRunWithoutManagedIdentity(t *testing.T) {
	bin := handlerBinary(t)
	env := startEmulate(t)
	for i, kv := range env {
		if strings.HasPrefix(kv, "IDENTITY_ENDPOINT=") {
			env[i] = "IDENTITY_ENDPOINT=http://127.0.0.1:1/msi/token" // nothing listens there
		}
	}
	out := t.TempDir()
	cmd := exec.CommandContext(t.Context(), bin, "run", "--out", out)
	cmd.Env = env
	res, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("run succeeded without a managed identity:\n%s", res)
	}
	if n := strings.Count(string(res), "managed identity"); n != 1 || regexp.MustCompile(`\[\d+/\d+\]`).Match(res) {
		t.Errorf("run printed %d mentions of the managed identity and/or tenant lines, want one error and no tenant:\n%s", n, res)
	}
	recs, _ := filepath.Glob(filepath.Join(out, "runs", "*.json"))
	if len(recs) != 1 {
		t.Fatalf("%d run records, want 1", len(recs))
	}
	b, err := os.ReadFile(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	var rec run.Record
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.State != run.StateFailed || !strings.Contains(rec.Reason, "managed identity") || len(rec.Tenants) != 0 {
		t.Errorf("record: %s, %q, %d tenants; want failed, naming the managed identity, no tenant", rec.State, rec.Reason, len(rec.Tenants))
	}
}

// TestTimerWithoutManagedIdentity: the same broken identity under serve.
// The timer invocation fails (a non-2xx the host counts as a failure) with
// the one error in its logs, and the stored record says why, with no
// tenant read and no workbook.
func TestTimerWithoutManagedIdentity(t *testing.T) {
	_, conn, container, env := sampleWorldOnAzurite(t)
	for i, kv := range env {
		if strings.HasPrefix(kv, "IDENTITY_ENDPOINT=") {
			env[i] = "IDENTITY_ENDPOINT=http://127.0.0.1:1/msi/token" // nothing listens there
		}
	}
	h := startHandler(t, env)
	body := `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}`
	resp, reply, err := h.post(t.Context(), "/ReportTimer", body)
	if err != nil {
		t.Fatal(err)
	}
	var ir customhandler.InvokeResponse
	if err := json.Unmarshal(reply, &ir); err != nil || resp.StatusCode < 300 {
		t.Fatalf("POST /ReportTimer = %d %s (%v), want a failed invocation", resp.StatusCode, reply, err)
	}
	if logs := strings.Join(ir.Logs, "\n"); !strings.Contains(logs, "managed identity") {
		t.Errorf("invocation logs do not name the managed identity:\n%s", logs)
	}

	store, err := reportstore.NewFromConnectionString(conn, container, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := runtest.Names(t, store, "runs/")
	if len(recs) != 1 {
		t.Fatalf("run records %q, want 1", recs)
	}
	rec, err := run.ReadRecord(t.Context(), store, strings.TrimSuffix(strings.TrimPrefix(recs[0], "runs/"), ".json"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != run.StateFailed || !strings.Contains(rec.Reason, "managed identity") || len(rec.Tenants) != 0 {
		t.Errorf("record: %s, %q, %d tenants; want failed, naming the managed identity, no tenant", rec.State, rec.Reason, len(rec.Tenants))
	}
	if wbs := runtest.Names(t, store, "reports/"); len(wbs) != 0 {
		t.Errorf("workbooks %q, want none", wbs)
	}
}

// TestDoctor checks the onboarding check against the sample world: the
// tenant that never consented is not ready, with its cause, fix and consent
// URL; the others are ready; the exit status says so.
func TestDoctor(t *testing.T) {
	bin := handlerBinary(t)
	env := startEmulate(t)
	world := emulator.SampleWorld()

	cmd := exec.CommandContext(t.Context(), bin, "doctor")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("doctor: %v, want exit status 1 (a tenant is not ready)\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"managed identity: ok", "AADSTS700016", "fix:", "/adminconsent?client_id=" + world.BridgeApp.ClientID,
		"missing Policy.Read.All (app role 246dd0d5-5bd0-4def-940b-0421030a5b68): disables conditionalaccess"} {
		if !strings.Contains(text, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, text)
		}
	}
	for _, tn := range world.Tenants {
		// Ready: the exchange works and no section lacks a permission
		// (a licence the tenant lacks is not the operator's to fix).
		ready := world.ExpectTenant(tn.ID).Exchange == ""
		for _, section := range settings.AllSections() {
			if strings.HasPrefix(world.ExpectSection(tn.ID, section).NotAvailable, "permission") {
				ready = false
			}
		}
		line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(tn.DisplayName) + `\s+` + tn.ID + `\s.*\s(yes|NO)$`).FindStringSubmatch(text)
		if line == nil || (line[1] == "yes") != ready {
			t.Errorf("doctor line for %s = %q, want ready=%v\n%s", tn.DisplayName, line, ready, text)
		}
	}

	// One healthy tenant: ready, exit 0, JSON for scripts.
	cmd = exec.CommandContext(t.Context(), bin, "doctor", "--json", "--tenant", world.Tenants[0].ID)
	cmd.Env = env
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("doctor --tenant %s: %v\n%s", world.Tenants[0].ID, err, out)
	}
	var res struct {
		ManagedIdentity string
		Ready           bool
		Tenants         []struct {
			TenantID string
			Ready    bool
			Granted  []string
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("doctor --json printed %s: %v", out, err)
	}
	if !res.Ready || res.ManagedIdentity != "ok" || len(res.Tenants) != 1 || !res.Tenants[0].Ready || len(res.Tenants[0].Granted) == 0 {
		t.Errorf("doctor --json = %+v, want one ready tenant with its granted permissions", res)
	}
}

// TestOnDemandEndToEnd drives serve as the Functions host does: a forwarded
// POST /api/reports, the queue message it left, the ReportQueue invocation
// that carries it, then the record, the list and the download.
func TestOnDemandEndToEnd(t *testing.T) {
	world, conn, container, env := sampleWorldOnAzurite(t)
	h := startHandler(t, env)
	queue, err := azqueue.NewQueueClientFromConnectionString(conn, customhandler.RunQueue, nil)
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, h.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	invoke := func(function, body string) []string {
		t.Helper()
		resp, reply := call(http.MethodPost, "/"+function, body, "Content-Type", "application/json",
			customhandler.HeaderInvocationID, "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c", customhandler.HeaderHostVersion, "4.1042.0.0")
		var ir customhandler.InvokeResponse
		if err := json.Unmarshal(reply, &ir); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /%s = %d %s (%v)\nlogs:\n%s", function, resp.StatusCode, reply, err, h.logs())
		}
		return ir.Logs
	}

	// A timer run first, so the list holds both kinds.
	invoke("ReportTimer", `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}`)

	// The forwarded request, as a caller's curl reaches the host.
	resp, body := call(http.MethodPost, "/api/reports", `{"sections":["tenant","users","licences"]}`,
		"Content-Type", "application/json", "x-functions-key", "not-checked-by-the-handler", "X-Forwarded-For", "203.0.113.7")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /api/reports = %d %s\n%s", resp.StatusCode, body, h.logs())
	}
	var accepted run.Record
	if err := json.Unmarshal(body, &accepted); err != nil || accepted.State != run.StateQueued {
		t.Fatalf("202 body = %s (%v), want a queued record", body, err)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/reports/"+accepted.RunID || resp.Header.Get("Retry-After") == "" {
		t.Errorf("Location = %q, Retry-After = %q; want /api/reports/%s and a delay", loc, resp.Header.Get("Retry-After"), accepted.RunID)
	}

	// The queue holds one message: the run request, base64 as the queue
	// extension expects.
	msgs, err := queue.DequeueMessages(t.Context(), &azqueue.DequeueMessagesOptions{NumberOfMessages: to.Ptr(int32(32))})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs.Messages) != 1 {
		t.Fatalf("queue holds %d messages, want 1", len(msgs.Messages))
	}
	m := msgs.Messages[0]
	// The host deletes a message once an invocation succeeds; left in
	// Azurite's shared queue, it would reappear 30 s later in the next
	// test that reads the queue.
	t.Cleanup(func() { queue.DeleteMessage(context.Background(), *m.MessageID, *m.PopReceipt, nil) })
	text, err := base64.StdEncoding.DecodeString(*m.MessageText)
	if err != nil {
		t.Fatalf("message %q is not base64: %v", *m.MessageText, err)
	}
	// The invocation as the host sends it: the message and every metadata
	// string or number JSON-encoded twice.
	twice := func(v any) string { b, _ := json.Marshal(v); b, _ = json.Marshal(string(b)); return string(b) }
	queueInvocation := func(dequeueCount int) string {
		return `{"Data":{"` + customhandler.QueueBinding + `":` + twice(string(text)) + `},"Metadata":{` +
			`"DequeueCount":` + twice(dequeueCount) + `,"Id":` + twice(*m.MessageID) + `,"PopReceipt":` + twice(*m.PopReceipt) +
			`,"InsertionTime":` + twice(m.InsertionTime.Format(time.RFC3339)) + `,"ExpirationTime":` + twice(m.ExpirationTime.Format(time.RFC3339)) +
			`,"NextVisibleTime":` + twice(m.TimeNextVisible.Format(time.RFC3339)) +
			`,"sys":{"MethodName":"ReportQueue","UtcNow":` + twice(time.Now().UTC().Format(time.RFC3339Nano)) + `,"RandGuid":` + twice("8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d") + `}}}`
	}
	logs := invoke("ReportQueue", queueInvocation(1))
	if !strings.Contains(strings.Join(logs, "\n"), "run "+accepted.RunID+": partial") {
		t.Errorf("ReportQueue logs = %q, want the run partial (Northwind never consented)", logs)
	}

	resp, body = call(http.MethodGet, "/api/reports/"+accepted.RunID, "")
	var rec run.Record
	if err := json.Unmarshal(body, &rec); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET record = %d %s", resp.StatusCode, body)
	}
	if rec.State != run.StatePartial || rec.Trigger != "http" || rec.TenantsDone != len(world.Tenants) || !slices.Equal(rec.RequestedSections, []string{"tenant", "users", "licences"}) {
		t.Errorf("record = %s %s %d/%d sections %q; want partial, http, all tenants, the requested sections", rec.State, rec.Trigger, rec.TenantsDone, rec.TenantsTotal, rec.RequestedSections)
	}

	resp, body = call(http.MethodGet, "/api/reports/"+accepted.RunID+"/download", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == "" || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="`+run.DownloadName(accepted.RunID)+`"` {
		t.Fatalf("download = %d, headers %v", resp.StatusCode, resp.Header)
	}
	store, err := reportstore.NewFromConnectionString(conn, container, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := store.Open(t.Context(), rec.Report)
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(body, blob) {
		t.Errorf("download is %d bytes, not the %d of blob %s", len(body), len(blob), rec.Report)
	}
	f, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("downloaded workbook does not open: %v", err)
	}
	defer f.Close()
	checkSampleReport(t, world, f, "tenant", "users", "licences")
	if sheets := f.GetSheetList(); !slices.Equal(sheets, []string{"Overview", "Summary", "Domains", "Users", "Licences", "Run status", "About"}) {
		t.Errorf("sheets = %q, want the requested sections' only", sheets)
	}

	// The queue delivers again: acknowledged, no second report.
	logs = invoke("ReportQueue", queueInvocation(2))
	if !strings.Contains(strings.Join(logs, "\n"), "nothing to do") {
		t.Errorf("second delivery logs = %q, want nothing done", logs)
	}
	names := runtest.Names(t, store, "reports/")
	if combined := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !combinedName.MatchString(n) }); len(combined) != 2 {
		t.Errorf("workbooks = %q, want the timer's and the on-demand run's, each with its tenants' own", names)
	}

	resp, body = call(http.MethodGet, "/api/reports", "")
	var page struct{ Runs []run.Summary }
	if err := json.Unmarshal(body, &page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/reports = %d %s", resp.StatusCode, body)
	}
	if len(page.Runs) != 2 || page.Runs[0].RunID != accepted.RunID || page.Runs[1].Trigger != "timer" || page.Runs[1].State != run.StatePartial {
		t.Errorf("list = %+v, want the on-demand run, then the timer run", page.Runs)
	}
}
