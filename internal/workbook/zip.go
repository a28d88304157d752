package workbook

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"slices"
	"strings"
)

// partWriter is the excelize.ZipWriter through which excelize writes the
// workbook's parts into the ZIP stream that already holds the worksheets
// Write streamed. excelize also renders those worksheets, from its own
// empty model of them; partWriter drops these copies, keeping the ones
// that mention a drawing so check can compare the relationship ID.
//
// partWriter also holds back the content types part until Close, to sort
// its defaults: excelize adds the image types from a map when a workbook
// gets a drawing, so their order would change from one run to the next.
type partWriter struct {
	zw       *zip.Writer
	streamed map[string]string        // worksheet parts already written → drawing relationship ID, or ""
	dropped  map[string]*bytes.Buffer // excelize's copies of streamed parts (nil buffer: not kept)
	types    *bytes.Buffer            // the content types part
}

// contentTypesPart is the name of the package's content types part.
const contentTypesPart = "[Content_Types].xml"

// Create implements excelize.ZipWriter.
func (p *partWriter) Create(name string) (io.Writer, error) {
	if name == contentTypesPart {
		if p.types != nil {
			return nil, fmt.Errorf("part %s written twice", name)
		}
		p.types = new(bytes.Buffer)
		return p.types, nil
	}
	if rel, ok := p.streamed[name]; ok {
		if p.dropped == nil {
			p.dropped = map[string]*bytes.Buffer{}
		}
		if _, dup := p.dropped[name]; dup {
			return nil, fmt.Errorf("part %s written twice", name)
		}
		var keep *bytes.Buffer
		if rel != "" {
			keep = new(bytes.Buffer)
		}
		p.dropped[name] = keep
		if keep == nil {
			return io.Discard, nil
		}
		return keep, nil
	}
	if strings.HasPrefix(name, "xl/worksheets/sheet") {
		return nil, fmt.Errorf("excelize wrote worksheet part %s, which was not streamed", name)
	}
	return p.zw.Create(name)
}

// AddFS implements excelize.ZipWriter.
func (p *partWriter) AddFS(fsys fs.FS) error { return p.zw.AddFS(fsys) }

// Close implements excelize.ZipWriter: once excelize has written its parts,
// it checks them against the streamed ones, then writes the content types
// part and the ZIP central directory. When the check fails the ZIP stream
// is left without its central directory, so that it cannot be opened.
func (p *partWriter) Close() error {
	if err := p.check(); err != nil {
		return err
	}
	if p.types != nil {
		w, err := p.zw.Create(contentTypesPart)
		if err != nil {
			return err
		}
		if _, err := w.Write(sortDefaults(p.types.Bytes())); err != nil {
			return err
		}
	}
	return p.zw.Close()
}

var defaultElem = regexp.MustCompile(`<Default [^>]*(/>|></Default>)`)

// sortDefaults returns the content types part types with its Default
// elements in ascending order.
func sortDefaults(types []byte) []byte {
	locs := defaultElem.FindAllIndex(types, -1)
	elems := make([]string, len(locs))
	for i, l := range locs {
		elems[i] = string(types[l[0]:l[1]])
	}
	slices.Sort(elems)
	out := make([]byte, 0, len(types))
	last := 0
	for i, l := range locs {
		out = append(out, types[last:l[0]]...)
		out = append(out, elems[i]...)
		last = l[1]
	}
	return append(out, types[last:]...)
}

// check verifies that every streamed worksheet is part of the workbook
// excelize described, and that excelize gave each chart's drawing the
// relationship ID the streamed part uses.
func (p *partWriter) check() error {
	names := make([]string, 0, len(p.streamed))
	for name := range p.streamed {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		kept, ok := p.dropped[name]
		if !ok {
			return fmt.Errorf("worksheet part %s is not in the workbook", name)
		}
		if rel := p.streamed[name]; rel != "" && !bytes.Contains(kept.Bytes(), []byte(`<drawing r:id="`+rel+`"`)) {
			return fmt.Errorf("worksheet part %s: excelize did not give its drawing relationship ID %s", name, rel)
		}
	}
	return nil
}
