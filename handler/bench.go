package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/tenantreport/tenantreport/internal/emulator"
	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/reportstore"
	"github.com/tenantreport/tenantreport/internal/run"
	"github.com/tenantreport/tenantreport/internal/section"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// benchVariant is one way of running a report that bench compares: the
// settings it adds to those that point `handler run` at the emulator.
type benchVariant struct {
	name  string // as --variants names it
	label string // its row in the table
	env   func(w *emulator.World) []string
	paced bool
}

// benchVariants are tenantreport's scheduler and the two baselines it is
// measured against, in table order.
var benchVariants = []benchVariant{
	{name: "tenantreport", label: "tenantreport", paced: true, env: func(w *emulator.World) []string {
		return []string{settings.KeyTimeScale + "=" + strconv.FormatFloat(worldScale(w), 'g', -1, 64)}
	}},
	// The loop of the seed articles: tenant after tenant, section after
	// section, no pacing, the SDK's retry handler answering 429s.
	{name: "serial", label: "baseline A, serial", env: func(*emulator.World) []string {
		return []string{settings.KeyPacing + "=off", settings.KeyConcurrency + "=1"}
	}},
	{name: "naive", label: "baseline B, naive", env: func(*emulator.World) []string {
		return []string{settings.KeyPacing + "=off", settings.KeyConcurrency + "=32"}
	}},
}

// benchWorlds are the worlds bench runs by default: the MSP of 50 tenants
// (its bench line), 200 small latency-bound tenants, 1,000 tenants.
var benchWorlds = []string{"msp50", "latency200", "msp1000"}

// benchHeadline is the world whose figures make the last line.
const benchHeadline = "msp50"

// benchResult is what bench measured of one run of a variant on a world.
type benchResult struct {
	variant benchVariant
	// skipped says why the variant did not run ("" when it ran).
	skipped string
	err     error
	// wall is the child's life, start to exit; collect the record's
	// Started to Collected (the size survey included, the workbook not).
	wall, collect, predicted time.Duration
	// workbook is the share of the run, Started to Finished, spent after
	// the last tenant was read: writing and storing the workbook.
	workbook float64
	// requests and throttled are the emulator's count of Graph requests
	// and 429s; recThrottled and retries are the record's.
	requests, throttled   int
	recThrottled, retries int
	// failedSections are the sections that failed (not those a tenant
	// cannot serve): a baseline that gave up on 429s reads less.
	failedSections int
	state          run.State
	peakRSS        int64 // bytes
	// cpu is the child's CPU time (user and system); emulatorCPU this
	// process's during the run, which is the emulator's.
	cpu, emulatorCPU time.Duration
	// throttledBy counts the 429s by the emulator's budget ("signin/app").
	throttledBy map[string]int
	log         string
}

// bench is `handler bench`: tenantreport's scheduler against two baselines
// on the emulator's worlds, each run a child `handler run` of this binary
// against a fresh emulator, with the world's lower bound beside them.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	worldsFlag := fs.String("worlds", strings.Join(benchWorlds, ","), "comma-separated worlds: shipped names ("+strings.Join(emulator.SampleWorldNames(), ", ")+") or files")
	variantsFlag := fs.String("variants", "tenantreport,serial,naive", "comma-separated variants to run")
	skipSerialOver := fs.Int("skip-serial-over", 500, "skip baseline A (serial) on worlds of more tenants than this")
	verbose := fs.Bool("v", false, "pass the child runs' output and logs through to stderr")
	keep := fs.Bool("keep", false, "keep the temporary directory (reports, run records, logs)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: handler bench [flags]\n\n"+
			"Runs `handler run` of this binary on each world's emulator once per variant and prints a table per\n"+
			"world, then the bench-scale line and the bench line (of %s, else the first world).\n\n", benchHeadline)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "handler bench: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	worlds := splitList(*worldsFlag)
	var variants []benchVariant
	for _, name := range splitList(*variantsFlag) {
		i := slices.IndexFunc(benchVariants, func(v benchVariant) bool { return v.name == name })
		if i < 0 {
			fmt.Fprintf(stderr, "handler bench: unknown variant %q (tenantreport, serial, naive)\n", name)
			return errUsage
		}
		if !slices.ContainsFunc(variants, func(v benchVariant) bool { return v.name == name }) {
			variants = append(variants, benchVariants[i])
		}
	}
	if len(worlds) == 0 || len(variants) == 0 {
		fmt.Fprintln(stderr, "handler bench: no world or no variant to run")
		return errUsage
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	tmp, err := os.MkdirTemp("", "tenantreport-bench-")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	var failed bool
	defer func() {
		if *keep || failed {
			fmt.Fprintf(stderr, "bench: reports, run records and logs kept in %s\n", tmp)
			return
		}
		os.RemoveAll(tmp)
	}()

	type worldResult struct {
		name    string
		bound   time.Duration
		results []benchResult
	}
	var done []worldResult
	for _, name := range worlds {
		w, err := emulator.OpenWorld(name)
		if err != nil {
			failed = true
			return err
		}
		bound, desc := benchBound(w)
		fmt.Fprintf(stderr, "bench: %s: %s; lower bound %s\n", name, desc, seconds(bound))
		wr := worldResult{name: name, bound: bound}
		for _, v := range variants {
			if v.name == "serial" && len(w.Tenants) > *skipSerialOver {
				wr.results = append(wr.results, benchResult{variant: v,
					skipped: fmt.Sprintf("skipped: %d tenants > --skip-serial-over %d", len(w.Tenants), *skipSerialOver)})
				continue
			}
			fmt.Fprintf(stderr, "bench: %s: %s …\n", name, v.label)
			res := benchOne(ctx, exe, filepath.Join(tmp, benchDirName(name)+"-"+v.name), w, v, *verbose, stderr)
			if res.err != nil {
				failed = true
				fmt.Fprintf(stderr, "bench: %s: %s: %v (log: %s)\n", name, v.label, res.err, res.log)
				if ctx.Err() != nil {
					return ctx.Err()
				}
			} else {
				fmt.Fprintf(stderr, "bench: %s: %s: %s wall, %d requests, %d throttled\n", name, v.label, seconds(res.wall), res.requests, res.throttled)
			}
			wr.results = append(wr.results, res)
		}
		benchTable(stdout, name, desc, bound, wr.results)
		done = append(done, wr)
	}

	// The machine-readable lines: R and peak RSS of tenantreport per
	// world, then the headline world's comparison. A figure that was not
	// measured is NaN, and R with a zero bound +Inf, as strconv.ParseFloat
	// reads them.
	find := func(rs []benchResult, name string) (benchResult, bool) {
		i := slices.IndexFunc(rs, func(r benchResult) bool { return r.variant.name == name && r.skipped == "" && r.err == nil })
		if i < 0 {
			return benchResult{}, false
		}
		return rs[i], true
	}
	var scale []string
	for _, wr := range done {
		if tr, ok := find(wr.results, "tenantreport"); ok {
			scale = append(scale, fmt.Sprintf("%s R=%.2f rss_mb=%.1f", wr.name, ratio(tr.collect, wr.bound), mib(tr.peakRSS)))
		}
	}
	fmt.Fprintf(stdout, "bench-scale: %s\n", strings.Join(scale, " "))
	head := done[0]
	if i := slices.IndexFunc(done, func(wr worldResult) bool { return wr.name == benchHeadline }); i >= 0 {
		head = done[i]
	}
	tr, okT := find(head.results, "tenantreport")
	serial, okS := find(head.results, "serial")
	naive, okN := find(head.results, "naive")
	nan := math.NaN()
	r, vsSerial, vsNaive, rss := nan, nan, nan, nan
	throttled, naiveThrottled := "NaN", "NaN"
	if okT {
		r, rss, throttled = ratio(tr.collect, head.bound), mib(tr.peakRSS), strconv.Itoa(tr.throttled)
		if okS {
			vsSerial = ratio(serial.wall, tr.wall)
		}
		if okN {
			vsNaive = ratio(naive.wall, tr.wall)
		}
	}
	if okN {
		naiveThrottled = strconv.Itoa(naive.throttled)
	}
	fmt.Fprintf(stdout, "bench: ratio=%.2f vs_serial=%.2f vs_naive=%.2f throttled=%s naive_throttled=%s peak_rss_mb=%.1f\n",
		r, vsSerial, vsNaive, throttled, naiveThrottled, rss)
	if failed {
		return errors.New("bench: a run failed; see above")
	}
	return nil
}

// benchOne runs variant v of world w once: a fresh emulator, and this
// binary's `handler run --out` against it, in dir.
func benchOne(ctx context.Context, exe, dir string, w *emulator.World, v benchVariant, verbose bool, stderr io.Writer) benchResult {
	res := benchResult{variant: v, log: filepath.Join(dir, "run.log")}
	fail := func(err error) benchResult {
		res.err = err
		return res
	}
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fail(err)
	}
	em, err := emulator.Start(w)
	if err != nil {
		return fail(err)
	}
	defer em.Close()
	caFile := filepath.Join(dir, "emulator-ca.pem")
	if err := os.WriteFile(caFile, em.CAPEM, 0o644); err != nil {
		return fail(err)
	}
	logFile, err := os.Create(res.log)
	if err != nil {
		return fail(err)
	}
	defer logFile.Close()

	runArgs := []string{"run", "--out", out}
	if verbose {
		runArgs = append(runArgs, "-v")
	}
	cmd := exec.CommandContext(ctx, exe, runArgs...)
	cmd.Env = benchEnv(em.Env(caFile), v.env(w))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if verbose {
		cmd.Stdout = io.MultiWriter(logFile, stderr)
		cmd.Stderr = cmd.Stdout
	}
	cpu0 := selfCPU()
	start := time.Now()
	err = cmd.Run()
	res.wall = time.Since(start)
	res.emulatorCPU = selfCPU() - cpu0
	if ps := cmd.ProcessState; ps != nil {
		res.peakRSS = maxRSS(ps)
		res.cpu = ps.UserTime() + ps.SystemTime()
	}
	m := em.Server.Metrics()
	res.throttled = m.TooManyRequests
	res.throttledBy = map[string]int{}
	for k, n := range m.Throttled {
		budget, _, _ := strings.Cut(k, " ") // "family/scope tenant"
		res.throttledBy[budget] += n
	}
	for k, n := range m.Requests {
		// A request inside a $batch counts under its own route too.
		if strings.HasPrefix(k, "graph ") && !strings.HasPrefix(k, "graph /$batch ") {
			res.requests += n
		}
	}
	if err != nil {
		return fail(fmt.Errorf("handler run: %w", err))
	}

	store, err := reportstore.NewDir(out)
	if err != nil {
		return fail(err)
	}
	recs, _, err := run.ListRecords(ctx, store, 1, "")
	if err != nil {
		return fail(err)
	}
	if len(recs) == 0 {
		return fail(fmt.Errorf("no run record in %s", out))
	}
	rec := recs[0]
	res.state, res.predicted = rec.State, rec.Predicted
	res.collect = rec.Collected.Sub(rec.Started)
	if total := rec.Finished.Sub(rec.Started); total > 0 {
		res.workbook = float64(rec.Finished.Sub(rec.Collected)) / float64(total)
	}
	for _, t := range rec.Tenants {
		res.recThrottled += t.Throttled
		res.retries += t.Retries
		for _, s := range t.Sections {
			if s.Status == graphdata.SectionFailed {
				res.failedSections++
			}
		}
	}
	return res
}

// benchEnv is a child run's environment: the emulator's settings and the
// variant's, and of this process's only what finds programs and temporary
// files and tunes the Go runtime, so settings of a real deployment in the
// shell cannot leak into a benchmark. A proxy that refuses every
// connection makes a request to any host but loopback fail instead of
// leaving the machine.
func benchEnv(em [][2]string, variant []string) []string {
	var env []string
	for _, kv := range em {
		env = append(env, kv[0]+"="+kv[1])
	}
	env = append(env, variant...)
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=")
}

// benchBound is the lower bound of a run of world w (see [Plan]): the
// budgets and the longest chain of requests at the world's p99 latency,
// with each tenant planned as the emulator serves it. A tenant whose token
// exchange fails, or whose Graph is out, reads nothing and is left out; a
// section whose permission is not granted is left out of its tenant's.
// desc describes the world.
func benchBound(w *emulator.World) (bound time.Duration, desc string) {
	scale := worldScale(w)
	p := graphdata.DefaultPacing()
	p.TimeScale = scale
	tr := graphdata.NewTransport(nil, p)
	// A run ends with its slowest chain of requests one after another; with
	// hundreds of chains at once, their requests' latencies are the tail of
	// the world's: each is taken at its 99th percentile.
	var latency time.Duration
	if l := w.Latency; l != nil {
		p99 := l.P99
		if p99 == 0 {
			p99 = 4 * l.Median // the emulator's default
		}
		latency = time.Duration(float64(l.Fixed+p99) * scale)
	}
	var planned []graphdata.Planned
	allUsers, premium := 0, 0
	for _, t := range w.Tenants {
		if t.BlockedByConditionalAccess || t.ServicePrincipalDisabled || (t.AppProvisioned != nil && !*t.AppProvisioned) ||
			(t.Faults != nil && t.Faults.Outage) || (t.Faults == nil && w.Faults != nil && w.Faults.Outage) {
			continue
		}
		users, isPremium := t.Users, true
		switch {
		case t.Premium != nil && t.Recorded == "":
			isPremium = *t.Premium
		case t.Recorded != "" || len(t.Licenses) > 0:
			// The emulator's count: a recorded tenant's users are in its
			// files, a licence's plans in the emulator's SKU table.
			e := w.ExpectTenant(t.ID)
			users, isPremium = e.Users, e.Premium
		}
		size := graphdata.Size{Users: users, Premium: &isPremium, Latency: latency}
		roles := t.Grants
		if roles == nil {
			roles = emulator.KnownPermissions()
		}
		var sections []string
		for _, name := range settings.AllSections() {
			if sec, ok := section.Lookup(name); ok && len(graphdata.Missing(sec, roles)) == 0 {
				sections = append(sections, name)
			}
		}
		allUsers += users
		if isPremium {
			premium++
		}
		planned = append(planned, graphdata.Planned{Tenant: t.ID, Size: size, Sections: sections})
	}
	desc = fmt.Sprintf("%d tenants (%d read, %d premium), %d users, time scale %g, p99 latency %s scaled",
		len(w.Tenants), len(planned), premium, allUsers, scale, latency)
	return tr.Plan(planned, tr.Mark()).Remaining(), desc
}

// benchTable prints one world's table: the runs and the bound.
func benchTable(w io.Writer, world, desc string, bound time.Duration, results []benchResult) {
	fmt.Fprintf(w, "\n%s: %s\n\n", world, desc)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\twall s\tcollect s\tpredicted s\t429s\trequests\tretries\tpeak RSS MB\tworkbook %\tR\tCPU s\temulator CPU s\tstate\t")
	row := func(label string, cells ...string) {
		// Labels align left: padded to the longest, which AlignRight then leaves be.
		fmt.Fprintf(tw, "%-18s\t%s\t\n", label, strings.Join(cells, "\t"))
	}
	// tenantreport first, then the bound, then the baselines.
	ordered := slices.Clone(results)
	slices.SortStableFunc(ordered, func(a, b benchResult) int {
		return cmpBool(b.variant.name == "tenantreport", a.variant.name == "tenantreport")
	})
	var notes []string
	for i, r := range ordered {
		if i == 0 && r.variant.name != "tenantreport" {
			row("lower bound", seconds(bound), seconds(bound), "-", "-", "-", "-", "-", "-", "1.00", "-", "-", "-")
		}
		switch {
		case r.skipped != "":
			row(r.variant.label, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "skipped")
			notes = append(notes, r.variant.label+" "+r.skipped)
		case r.err != nil:
			row(r.variant.label, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "failed")
			notes = append(notes, fmt.Sprintf("%s failed: %v; see %s", r.variant.label, r.err, r.log))
		default:
			predicted, retries := "-", "n/a"
			if r.variant.paced {
				predicted, retries = seconds(r.predicted), strconv.Itoa(r.retries)
			}
			state := string(r.state)
			if r.failedSections > 0 {
				state += fmt.Sprintf(" (%d failed)", r.failedSections)
				notes = append(notes, fmt.Sprintf("%s: %d sections failed, so its report is incomplete and its time is not that of a whole report",
					r.variant.label, r.failedSections))
			}
			row(r.variant.label, seconds(r.wall), seconds(r.collect), predicted, strconv.Itoa(r.throttled), strconv.Itoa(r.requests),
				retries, fmt.Sprintf("%.1f", mib(r.peakRSS)), fmt.Sprintf("%.1f", 100*r.workbook),
				fmt.Sprintf("%.2f", ratio(r.collect, bound)), seconds(r.cpu), seconds(r.emulatorCPU), state)
			if r.variant.paced && r.throttled > 0 {
				notes = append(notes, fmt.Sprintf("%s: 429s by budget: %s", r.variant.label, countList(r.throttledBy)))
			}
			if r.variant.paced && bound > 0 && math.Abs(float64(r.predicted-bound)) > 0.1*float64(bound) {
				notes = append(notes, fmt.Sprintf("%s: the run predicted %s s, the world's bound is %s s", r.variant.label, seconds(r.predicted), seconds(bound)))
			}
			if r.throttled != r.recThrottled {
				notes = append(notes, fmt.Sprintf("%s: the emulator answered %d 429s, the run record counts %d",
					r.variant.label, r.throttled, r.recThrottled))
			}
		}
		if i == 0 && r.variant.name == "tenantreport" {
			row("lower bound", seconds(bound), seconds(bound), "-", "-", "-", "-", "-", "-", "1.00", "-", "-", "-")
		}
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// worldScale is w's time scale, 1 when it sets none.
func worldScale(w *emulator.World) float64 {
	if w.TimeScale <= 0 {
		return 1
	}
	return w.TimeScale
}

// benchDirName is a world's name as a directory name: a world file's base
// name without .json.
func benchDirName(world string) string {
	return strings.TrimSuffix(filepath.Base(world), ".json")
}

// selfCPU is the CPU time this process has used, all threads.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// maxRSS is the peak resident set size of an exited child in bytes.
func maxRSS(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss) // bytes on macOS
	}
	return int64(ru.Maxrss) * 1024 // KiB on Linux
}

// countList is counts as "key n, key n", by key.
func countList(counts map[string]int) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		out = append(out, fmt.Sprintf("%s %d", k, counts[k]))
	}
	return strings.Join(out, ", ")
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

// mib is n bytes in MiB.
func mib(n int64) float64 { return float64(n) / (1 << 20) }

// ratio is a ÷ b: +Inf when b is zero.
func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return math.Inf(1)
	}
	return float64(a) / float64(b)
}
