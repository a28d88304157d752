package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// envOf is a getenv over m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// callDispatch runs the handler with args as main would.
func callDispatch(t *testing.T, getenv func(string) string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = dispatch(t.Context(), args, getenv, &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestDispatchHelp: asking for help prints the usage and succeeds; before,
// a leading "-h" went to serve, which printed "Usage of serve:" and exited 1.
func TestDispatchHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"help"}} {
		stdout, stderr, err := callDispatch(t, envOf(nil), args...)
		if err != nil || !strings.Contains(stdout, "usage: handler") || strings.Contains(stdout+stderr, "Usage of serve") {
			t.Errorf("handler %q = %v, stdout %q, stderr %q; want nil and the handler's usage", args, err, stdout, stderr)
		}
	}
}

// TestDispatchCommandHelp: a command's -h prints its flags and succeeds.
func TestDispatchCommandHelp(t *testing.T) {
	for _, args := range [][]string{{"consent-url", "-h"}, {"doctor", "--help"}, {"run", "-h"}, {"serve", "-h"}, {"permissions", "-h"}} {
		_, stderr, err := callDispatch(t, envOf(nil), args...)
		if err != nil || !strings.Contains(stderr, "Usage of "+args[0]) {
			t.Errorf("handler %q = %v, stderr %q; want nil and the command's flags", args, err, stderr)
		}
	}
}

// TestDispatchUsageErrors: what is not help still fails.
func TestDispatchUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"nope"}, {"doctor", "--nope"}, {"-x"}} {
		if _, _, err := callDispatch(t, envOf(nil), args...); !errors.Is(err, errUsage) {
			t.Errorf("handler %q = %v, want errUsage", args, err)
		}
	}
}
