package run

import (
	"bufio"
	"bytes"
	"cmp"
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/tenantreport/tenantreport/internal/report"
	"github.com/tenantreport/tenantreport/internal/section"
)

// spoolSchema versions the spool format: the header line of every spool file
// carries it, so a reader from another build refuses what it cannot read
// instead of misreading it.
//
// Format 3: a JSON header line, then one line per row: the row's sort key, a
// tab, and the row as JSON of its section.Row type (which never holds a raw
// tab or newline). Format 2 held some rows in Graph's wire names.
const spoolSchema = 3

type spoolHeader struct {
	Schema  int    `json:"schema"`
	Section string `json:"section"`
	Tenant  string `json:"tenant"`
	// Sorted is set once the rows are in key order: sortSpool writes it, and
	// readers that need the order (readSpool, mergeRuns) refuse a spool
	// without it rather than write an unstable workbook.
	Sorted bool `json:"sorted,omitempty"`
}

// sortChunk bounds the bytes of rows one tenant's sort holds in memory; a
// larger spool is sorted in runs on disk and merged. Tenants are collected
// in parallel, so this times Runner.Parallel is the sort's memory bound.
// maxRuns caps the files one merge holds open: a spool bigger than
// sortChunk × maxRuns is sorted in proportionally bigger runs.
var (
	sortChunk = 256 << 10
	maxRuns   = 64
)

// spoolOwner names the file in a run's spool directory that holds the
// process id of the run's process.
const spoolOwner = "owner.pid"

// newSpoolDir makes a run's spool directory in parent ("" = the OS temp
// directory), marked with this process's id.
func newSpoolDir(parent, runID string) (string, error) {
	dir, err := os.MkdirTemp(parent, "tenantreport-"+runID+"-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, spoolOwner), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// removeOrphanSpools removes the spool directories in parent whose process
// is gone: a run killed outright (SIGKILL, an instance recycled) never
// removes its own. A directory of a live process, or one whose owner cannot
// be told, is left alone.
func removeOrphanSpools(parent string, log *slog.Logger) {
	if parent == "" {
		parent = os.TempDir()
	}
	dirs, _ := filepath.Glob(filepath.Join(parent, "tenantreport-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, spoolOwner))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 || pid == os.Getpid() || alive(pid) {
			continue
		}
		if err := os.RemoveAll(dir); err == nil {
			log.Info("removed the spools of a run whose process is gone", "dir", dir, "pid", pid)
		}
	}
}

// alive reports whether process pid exists (signal 0 checks without
// sending anything).
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, os.ErrPermission)
}

// smallSpool is how many bytes of rows a spool writer keeps in memory
// before it writes them to its file: a section of a small tenant is sorted
// there and written once, in order, instead of being written, read back,
// sorted and written again (which is most of a run over many small
// tenants). Tenants are collected in parallel: this times the sections of
// Runner.Parallel tenants is its memory bound.
var smallSpool = 16 << 10

// spoolWriter writes the rows of one tenant and section: in memory while
// they are few, then to its file.
type spoolWriter struct {
	path   string
	header spoolHeader
	lines  []spoolLine // the rows, until they outgrow smallSpool
	size   int
	f      *os.File // nil while the rows are in memory
	buf    *bufio.Writer
	// sorted is set by close when it wrote the rows in key order.
	sorted bool
}

func createSpool(path string, h spoolHeader) (*spoolWriter, error) {
	h.Schema = spoolSchema
	return &spoolWriter{path: path, header: h}, nil
}

// open creates the spool's file and writes its header and the rows held so
// far.
func (w *spoolWriter) open() error {
	f, err := os.Create(w.path)
	if err != nil {
		return fmt.Errorf("run: spool: %w", err)
	}
	w.f, w.buf = f, bufio.NewWriterSize(f, 8<<10)
	if err := json.NewEncoder(w.buf).Encode(w.header); err != nil {
		return fmt.Errorf("run: spool: %w", err)
	}
	for _, l := range w.lines {
		w.put(l.key, l.row)
	}
	w.lines = nil
	return nil
}

// write appends row under its key.
func (w *spoolWriter) write(row section.Row) error {
	b, err := json.Marshal(row)
	if err != nil {
		return fmt.Errorf("run: spool: %w", err)
	}
	return w.writeLine(cleanKey(row.Key()), b)
}

func (w *spoolWriter) writeLine(key string, row []byte) error {
	if w.f == nil {
		w.lines = append(w.lines, spoolLine{key, bytes.Clone(row)})
		if w.size += len(key) + len(row); w.size <= smallSpool {
			return nil
		}
		return w.open()
	}
	return w.put(key, row)
}

func (w *spoolWriter) put(key string, row []byte) error {
	w.buf.WriteString(key)
	w.buf.WriteByte('\t')
	w.buf.Write(row)
	if err := w.buf.WriteByte('\n'); err != nil {
		return fmt.Errorf("run: spool: %w", err)
	}
	return nil
}

// cleanKey keeps a key on its line.
func cleanKey(k string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, k)
}

// close writes what is left; rows still in memory are sorted and written
// in key order, marked sorted.
func (w *spoolWriter) close() error {
	if w.f == nil {
		slices.SortStableFunc(w.lines, func(a, b spoolLine) int { return cmp.Compare(a.key, b.key) })
		w.header.Sorted, w.sorted = true, true
		if err := w.open(); err != nil {
			if w.f != nil {
				w.f.Close()
			}
			return err
		}
	}
	err := w.buf.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("run: spool: %w", err)
	}
	return nil
}

// spoolLine is one row of a spool, undecoded.
type spoolLine struct {
	key string
	row []byte
}

// spoolReader reads a spool file line by line.
type spoolReader struct {
	f      *os.File
	sc     *bufio.Scanner
	header spoolHeader
}

func openSpool(path string) (*spoolReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("run: spool: %w", err)
	}
	sc := bufio.NewScanner(f)
	// A row is one directory object; 16 MiB is far above any of them.
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	r := &spoolReader{f: f, sc: sc}
	if !sc.Scan() {
		f.Close()
		return nil, fmt.Errorf("run: spool %s: no header: %v", path, sc.Err())
	}
	if err := json.Unmarshal(sc.Bytes(), &r.header); err != nil || r.header.Schema != spoolSchema {
		f.Close()
		return nil, fmt.Errorf("run: spool %s: schema %d, want %d (%v)", path, r.header.Schema, spoolSchema, err)
	}
	return r, nil
}

// next returns the next line; ok is false at the end or on error. The
// line's row is valid only until the next call: a caller that keeps it
// clones it.
func (r *spoolReader) next() (spoolLine, bool, error) {
	if !r.sc.Scan() {
		return spoolLine{}, false, r.sc.Err()
	}
	key, row, found := bytes.Cut(r.sc.Bytes(), []byte{'\t'})
	if !found {
		return spoolLine{}, false, errors.New("run: spool: line without a key")
	}
	return spoolLine{key: string(key), row: row}, true, nil
}

func (r *spoolReader) close() error { return r.f.Close() }

// errUnsorted is reading in key order a spool that sortSpool did not sort.
var errUnsorted = errors.New("run: spool is not sorted")

// openSorted opens a spool that sortSpool wrote.
func openSorted(path string) (*spoolReader, error) {
	r, err := openSpool(path)
	if err != nil {
		return nil, err
	}
	if !r.header.Sorted {
		r.close()
		return nil, fmt.Errorf("%w: %s", errUnsorted, path)
	}
	return r, nil
}

// readSpool yields the rows of a sorted spool file one at a time, decoded
// by decode. A row that does not decode is an error wrapping
// report.ErrUnreadableRow, and reading goes on.
func readSpool(path string, decode func([]byte) (section.Row, error)) iter.Seq2[section.Row, error] {
	return func(yield func(section.Row, error) bool) {
		r, err := openSorted(path)
		if err != nil {
			yield(nil, err)
			return
		}
		defer r.close()
		for {
			line, ok, err := r.next()
			if err != nil {
				yield(nil, fmt.Errorf("run: spool %s: %w", path, err))
				return
			}
			if !ok {
				return
			}
			row, err := decode(line.row)
			if err != nil {
				err = fmt.Errorf("run: spool %s: %w: %w", path, report.ErrUnreadableRow, err)
			}
			if !yield(row, err) {
				return
			}
		}
	}
}

// sortSpool puts the rows of a spool file in key order, keeping the order
// of rows with equal keys. Memory is bounded by sortChunk: runs of that
// size are sorted and written next to the file, then merged.
func sortSpool(path string) (err error) {
	r, err := openSpool(path)
	if err != nil {
		return err
	}
	defer r.close()
	limit := sortChunk
	if st, err := r.f.Stat(); err == nil {
		limit = max(limit, int(st.Size()/int64(maxRuns))+1)
	}
	var runs []string
	defer func() {
		for _, p := range runs {
			os.Remove(p)
		}
	}()
	var chunk []spoolLine
	size := 0
	flush := func() error {
		slices.SortStableFunc(chunk, func(a, b spoolLine) int { return cmp.Compare(a.key, b.key) })
		p := fmt.Sprintf("%s.run%d", path, len(runs))
		runs = append(runs, p)
		if err := writeRun(p, r.header, chunk); err != nil {
			return err
		}
		chunk, size = chunk[:0], 0
		return nil
	}
	for {
		line, ok, err := r.next()
		if err != nil {
			return fmt.Errorf("run: spool %s: %w", path, err)
		}
		if !ok {
			break
		}
		line.row = bytes.Clone(line.row) // kept past the next read
		chunk = append(chunk, line)
		if size += len(line.key) + len(line.row); size >= limit {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(chunk) > 0 || len(runs) == 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	r.close()
	if len(runs) == 1 {
		p := runs[0]
		runs = nil
		return os.Rename(p, path)
	}
	return mergeRuns(path, r.header, runs)
}

func writeRun(path string, h spoolHeader, lines []spoolLine) error {
	h.Sorted = true
	w, err := createSpool(path, h)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if err := w.writeLine(l.key, l.row); err != nil {
			w.close()
			return err
		}
	}
	return w.close()
}

// mergeRuns merges sorted runs into path. On equal keys the earlier run
// wins, which keeps the sort stable.
func mergeRuns(path string, h spoolHeader, runs []string) error {
	h.Sorted = true
	var m merger
	for i, p := range runs {
		r, err := openSorted(p)
		if err != nil {
			return err
		}
		defer r.close()
		line, ok, err := r.next()
		if err != nil {
			return fmt.Errorf("run: spool %s: %w", p, err)
		}
		if ok {
			m = append(m, &mergeHead{line: line, run: i, r: r})
		}
	}
	heap.Init(&m)
	tmp := path + ".merged"
	w, err := createSpool(tmp, h)
	if err != nil {
		return err
	}
	for m.Len() > 0 {
		top := m[0]
		if err := w.writeLine(top.line.key, top.line.row); err != nil {
			w.close()
			return err
		}
		line, ok, err := top.r.next()
		if err != nil {
			w.close()
			return fmt.Errorf("run: spool: %w", err)
		}
		if ok {
			top.line = line
			heap.Fix(&m, 0)
		} else {
			heap.Pop(&m)
		}
	}
	if err := w.close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

type mergeHead struct {
	// line aliases r's buffer; r.next is called only once line is written.
	line spoolLine
	run  int
	r    *spoolReader
}

// merger is a min-heap of run heads by key, then run.
type merger []*mergeHead

func (m merger) Len() int { return len(m) }
func (m merger) Less(i, j int) bool {
	if c := cmp.Compare(m[i].line.key, m[j].line.key); c != 0 {
		return c < 0
	}
	return m[i].run < m[j].run
}
func (m merger) Swap(i, j int) { m[i], m[j] = m[j], m[i] }
func (m *merger) Push(x any)   { *m = append(*m, x.(*mergeHead)) }
func (m *merger) Pop() any {
	old := *m
	x := old[len(old)-1]
	*m = old[:len(old)-1]
	return x
}
