// Package rss reads the resident set size of this process, for benchmarks
// that report peak memory (BENCHMARKS.md). It is Linux-only in effect: on
// other systems every reading reports ok == false.
package rss

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
)

// ResetPeak returns freed memory to the operating system and resets the
// process's peak RSS (VmHWM), so that Peak measures from now on. It reports
// whether the reset worked (Linux 4.0 and later).
func ResetPeak() bool {
	runtime.GC()
	debug.FreeOSMemory()
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// Peak returns the peak resident set size in bytes since the last reset.
func Peak() (int64, bool) { return status("VmHWM:") }

// Current returns the resident set size in bytes.
func Current() (int64, bool) { return status("VmRSS:") }

// status returns a /proc/self/status field given in kB, in bytes.
func status(field string) (int64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte(field)); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
