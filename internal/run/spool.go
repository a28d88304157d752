package run

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
)

// spoolSchema versions the spool format: the header line of every spool file
// carries it, so a reader from another build refuses what it cannot read
// instead of misreading it.
const spoolSchema = 1

type spoolHeader struct {
	Schema  int    `json:"schema"`
	Section string `json:"section"`
	Tenant  string `json:"tenant"`
}

// spoolWriter writes the rows of one tenant and section as JSON lines.
type spoolWriter struct {
	f   *os.File
	buf *bufio.Writer
	enc *json.Encoder
}

func createSpool(path, section, tenantID string) (*spoolWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("run: spool: %w", err)
	}
	buf := bufio.NewWriterSize(f, 64<<10)
	w := &spoolWriter{f: f, buf: buf, enc: json.NewEncoder(buf)}
	if err := w.enc.Encode(spoolHeader{Schema: spoolSchema, Section: section, Tenant: tenantID}); err != nil {
		f.Close()
		return nil, fmt.Errorf("run: spool: %w", err)
	}
	return w, nil
}

func (w *spoolWriter) write(row any) error {
	if err := w.enc.Encode(row); err != nil {
		return fmt.Errorf("run: spool: %w", err)
	}
	return nil
}

func (w *spoolWriter) close() error {
	err := w.buf.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("run: spool: %w", err)
	}
	return nil
}

// readSpool yields the rows of a spool file one at a time.
func readSpool[T any](path string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		f, err := os.Open(path)
		if err != nil {
			yield(zero, fmt.Errorf("run: spool: %w", err))
			return
		}
		defer f.Close()
		dec := json.NewDecoder(bufio.NewReaderSize(f, 64<<10))
		var h spoolHeader
		if err := dec.Decode(&h); err != nil || h.Schema != spoolSchema {
			yield(zero, fmt.Errorf("run: spool %s: schema %d, want %d (%v)", path, h.Schema, spoolSchema, err))
			return
		}
		for {
			var row T
			err := dec.Decode(&row)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(zero, fmt.Errorf("run: spool %s: %w", path, err))
				return
			}
			if !yield(row, nil) {
				return
			}
		}
	}
}
