package main

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestBench runs `handler bench` on the demo world, every variant, through
// the built binary: a row per variant and the bound, a bench line that
// parses, and no 429 in tenantreport's run.
func TestBench(t *testing.T) {
	bin := handlerBinary(t)
	cmd := exec.CommandContext(t.Context(), bin, "bench", "--worlds", "demo", "--variants", "tenantreport,serial,naive")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + t.TempDir()}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("handler bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Logf("handler bench:\n%s", out)

	for _, label := range []string{"tenantreport", "lower bound", "baseline A, serial", "baseline B, naive"} {
		if !rowStarts(out, label) {
			t.Errorf("handler bench: no row %q", label)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-2], "bench-scale: demo R=") {
		t.Errorf("handler bench: the line before the last is not bench-scale of demo:\n%s", out)
	}
	got := benchLine(t, last)
	for _, k := range []string{"ratio", "vs_serial", "vs_naive", "throttled", "naive_throttled", "peak_rss_mb"} {
		if _, ok := got[k]; !ok {
			t.Errorf("bench line %q: no %s", last, k)
		}
	}
	if got["throttled"] != 0 {
		t.Errorf("bench line %q: throttled = %v, want 0", last, got["throttled"])
	}
	if got["peak_rss_mb"] <= 0 || got["vs_serial"] <= 0 || got["vs_naive"] <= 0 {
		t.Errorf("bench line %q: peak_rss_mb, vs_serial and vs_naive must be measured (above 0)", last)
	}
}

// rowStarts reports whether a line of out begins, after spaces, with label.
func rowStarts(out, label string) bool {
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), label+" ") {
			return true
		}
	}
	return false
}

// benchLine parses "bench: k=v k=v …"; each v is a float as
// strconv.ParseFloat reads it (NaN: not measured, +Inf: a zero bound).
func benchLine(t *testing.T, line string) map[string]float64 {
	t.Helper()
	rest, ok := strings.CutPrefix(line, "bench: ")
	if !ok {
		t.Fatalf("last line = %q, want the bench line", line)
	}
	got := map[string]float64{}
	for f := range strings.FieldsSeq(rest) {
		k, v, ok := strings.Cut(f, "=")
		x, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			t.Fatalf("bench line %q: field %q is not key=number", line, f)
		}
		got[k] = x
	}
	return got
}
