package workbook

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
)

// partWriter is the excelize.ZipWriter through which excelize writes the
// workbook's parts into the ZIP stream that already holds the worksheets
// (and their relationships) Write streamed. excelize also renders those
// worksheets, from its own nearly empty model of them; partWriter drops
// these copies, keeping the ones that mention a drawing so check can
// compare the drawing's relationship with the one Write wrote.
//
// partWriter also holds back the content types part until Close, to sort
// its defaults: excelize adds the image types from a map when a workbook
// gets a drawing, so their order would change from one run to the next.
// And it writes core instead of excelize's document properties.
type partWriter struct {
	zw       *zip.Writer
	streamed map[string]string        // worksheet parts already written → target of their drawing, or ""
	dropped  map[string]*bytes.Buffer // excelize's copies of streamed parts and their relationships (nil buffer: not kept)
	types    *bytes.Buffer            // the content types part
	core     []byte                   // the core properties part, or nil for excelize's
}

const (
	// contentTypesPart is the name of the package's content types part.
	contentTypesPart = "[Content_Types].xml"
	// corePart is the name of the package's core properties part.
	corePart = "docProps/core.xml"
)

// Create implements excelize.ZipWriter.
func (p *partWriter) Create(name string) (io.Writer, error) {
	switch {
	case name == contentTypesPart:
		if p.types != nil {
			return nil, fmt.Errorf("part %s written twice", name)
		}
		p.types = new(bytes.Buffer)
		return p.types, nil
	case name == corePart && p.core != nil:
		w, err := p.zw.Create(name)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(p.core); err != nil {
			return nil, err
		}
		return io.Discard, nil
	}
	sheet := name
	if s, ok := sheetOfRels(name); ok {
		sheet = s
	}
	if drawing, ok := p.streamed[sheet]; ok {
		if p.dropped == nil {
			p.dropped = map[string]*bytes.Buffer{}
		}
		if _, dup := p.dropped[name]; dup {
			return nil, fmt.Errorf("part %s written twice", name)
		}
		if drawing == "" && name != sheet {
			return nil, fmt.Errorf("excelize wrote relationships %s for a worksheet without a drawing", name)
		}
		var keep *bytes.Buffer
		if drawing != "" {
			keep = new(bytes.Buffer)
		}
		p.dropped[name] = keep
		if keep == nil {
			return io.Discard, nil
		}
		return keep, nil
	}
	if strings.HasPrefix(name, "xl/worksheets/") {
		return nil, fmt.Errorf("excelize wrote worksheet part %s, which was not streamed", name)
	}
	return p.zw.Create(name)
}

// relsOf returns the name of the relationships part of the part name.
func relsOf(name string) string {
	dir, file := "", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dir, file = name[:i+1], name[i+1:]
	}
	return dir + "_rels/" + file + ".rels"
}

// sheetOfRels returns the worksheet part whose relationships part is name.
func sheetOfRels(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "xl/worksheets/_rels/")
	if !ok {
		return "", false
	}
	file, ok := strings.CutSuffix(rest, ".rels")
	return "xl/worksheets/" + file, ok
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

// drawingRel matches the relationship of a worksheet's drawing as excelize
// writes it, capturing the target.
var drawingRel = regexp.MustCompile(`<Relationship Id="` + drawingRelID + `" Target="([^"]*)" Type="` +
	regexp.QuoteMeta(relTypeDrawing) + `"`)

// check verifies that every streamed worksheet is part of the workbook
// excelize described, and that excelize gave each chart's drawing the
// relationship ID and the part Write named in the streamed parts.
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
		drawing := p.streamed[name]
		if drawing == "" {
			continue
		}
		if !bytes.Contains(kept.Bytes(), []byte(`<drawing r:id="`+drawingRelID+`"`)) {
			return fmt.Errorf("worksheet part %s: excelize did not give its drawing relationship ID %s", name, drawingRelID)
		}
		rels := p.dropped[relsOf(name)]
		if rels == nil {
			return fmt.Errorf("worksheet part %s: excelize wrote no relationships for its drawing", name)
		}
		if m := drawingRel.FindSubmatch(rels.Bytes()); m == nil || string(m[1]) != drawing {
			return fmt.Errorf("worksheet part %s: excelize's drawing is not %s: %s", name, drawing, rels)
		}
	}
	return nil
}

// Relationships parts that Write streams.
const (
	relsStart = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
		`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`
	relsEnd = `</Relationships>`
	// drawingRelID is the relationship ID of a worksheet's drawing. It is
	// the ID excelize gives the first relationship of a worksheet, and a
	// worksheet that Write creates has no relationship but the ones Write
	// writes: partWriter.check verifies that excelize agrees.
	drawingRelID   = "rId1"
	relTypeDrawing = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/drawing"
)

// drawingTarget is the target of the relationship of a worksheet to its
// drawing, when it is the n-th drawing of the workbook: excelize numbers
// drawings in the order they are added, and Write adds one per chart.
func drawingTarget(n int) string { return fmt.Sprintf("../drawings/drawing%d.xml", n) }

// A streamed worksheet part is one ZIP entry made of two deflate streams
// joined: the head, which is written last, as stored (uncompressed) blocks
// that are not final, then the body, compressed as it was written (from
// the first row to the end of the part) into a spill. A deflate stream is
// a sequence of blocks, and a stored block ends on a byte boundary, so the
// body's blocks can follow the head's; the body's back-references stay
// within the body. Only the CRC-32 of the whole needs the two pieces'
// checksums combined (crc32Combine).
//
// Compared with writing the part in order, this costs one more write and
// read of the compressed body (a tenth of its size), through memory for
// small parts and a temporary file for large ones, so memory stays flat.

// writeJoined writes a ZIP entry named name whose content is head followed
// by the body compressed into body, whose uncompressed form had size n and
// checksum crc.
func writeJoined(zw *zip.Writer, name string, head []byte, body *spill, crc uint32, n int64) error {
	h := &zip.FileHeader{
		Name:               name,
		Method:             zip.Deflate,
		Flags:              0x8, // sizes and checksum follow the data, as for zip.Writer.Create
		CreatorVersion:     20,
		ReaderVersion:      20,
		CRC32:              crc32Combine(crc32.ChecksumIEEE(head), crc, n),
		CompressedSize64:   storedSize(len(head)) + uint64(body.Len()),
		UncompressedSize64: uint64(len(head)) + uint64(n),
	}
	if h.CompressedSize64 >= 1<<32-1 || h.UncompressedSize64 >= 1<<32-1 {
		h.ReaderVersion = 45 // ZIP64
	}
	w, err := zw.CreateRaw(h)
	if err != nil {
		return err
	}
	if err := writeStored(w, head); err != nil {
		return err
	}
	_, err = body.WriteTo(w)
	return err
}

// maxStored is the most bytes one stored deflate block holds.
const maxStored = 1<<16 - 1

// storedSize returns the size of n bytes as stored deflate blocks.
func storedSize(n int) uint64 {
	blocks := (n + maxStored - 1) / maxStored
	return uint64(n + 5*blocks)
}

// writeStored writes p as stored deflate blocks, none of them final: each
// is a header byte (BFINAL 0, BTYPE 00, padding), LEN and its complement.
func writeStored(w io.Writer, p []byte) error {
	for len(p) > 0 {
		n := min(len(p), maxStored)
		hdr := [5]byte{0}
		binary.LittleEndian.PutUint16(hdr[1:], uint16(n))
		binary.LittleEndian.PutUint16(hdr[3:], ^uint16(n))
		if _, err := w.Write(hdr[:]); err != nil {
			return err
		}
		if _, err := w.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// crc32Combine returns the CRC-32 (IEEE) of a+b from crcA, the checksum of
// a, crcB, the checksum of b, and the length of b, as zlib's
// crc32_combine: appending n zero bits to a is a linear operation on its
// checksum, done by squaring a matrix over GF(2).
func crc32Combine(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	var even, odd [32]uint32 // operators for 2^k zero bits
	odd[0] = crc32.IEEE      // one zero bit
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	for {
		gf2Square(&even, &odd) // one zero byte, then 4, 16, …
		if lenB&1 != 0 {
			crcA = gf2Times(&even, crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
		gf2Square(&odd, &even)
		if lenB&1 != 0 {
			crcA = gf2Times(&odd, crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range mat {
		square[n] = gf2Times(mat, mat[n])
	}
}

// spill holds what is written to it in memory up to limit bytes, and
// beyond that in a temporary file in dir ("" for os.TempDir), which it
// keeps for reuse after Reset until Close removes it. Once in the file, the
// memory buffers writes to it, limit bytes at a time: the deflate writer
// that writes into a spill does so in pieces of a few hundred bytes.
type spill struct {
	dir    string
	limit  int
	mem    []byte // the content, or the part of it not yet in file
	file   *os.File
	n      int64 // bytes in file, when inFile
	inFile bool  // the content is in file (and mem), not in mem alone
}

// Write implements io.Writer.
func (s *spill) Write(p []byte) (int, error) {
	if len(s.mem)+len(p) <= s.limit {
		s.mem = append(s.mem, p...)
		return len(p), nil
	}
	if !s.inFile {
		if s.file == nil {
			f, err := os.CreateTemp(s.dir, "workbook-*.tmp")
			if err != nil {
				return 0, err
			}
			s.file = f
		}
		if _, err := s.file.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		s.n, s.inFile = 0, true
	}
	if err := s.flush(); err != nil {
		return 0, err
	}
	if len(p) <= s.limit {
		s.mem = append(s.mem, p...)
		return len(p), nil
	}
	n, err := s.file.Write(p)
	s.n += int64(n)
	return n, err
}

// flush moves the content of mem to the file.
func (s *spill) flush() error {
	n, err := s.file.Write(s.mem)
	s.n += int64(n)
	s.mem = s.mem[:0]
	return err
}

// Len returns the number of bytes written since the last Reset.
func (s *spill) Len() int64 {
	if s.inFile {
		return s.n + int64(len(s.mem))
	}
	return int64(len(s.mem))
}

// WriteTo copies what was written since the last Reset to w.
func (s *spill) WriteTo(w io.Writer) (int64, error) {
	if !s.inFile {
		n, err := w.Write(s.mem)
		return int64(n), err
	}
	if err := s.flush(); err != nil {
		return 0, err
	}
	return io.Copy(w, io.NewSectionReader(s.file, 0, s.n))
}

// Reset empties s.
func (s *spill) Reset() { s.mem, s.n, s.inFile = s.mem[:0], 0, false }

// Close removes the temporary file, if any.
func (s *spill) Close() error {
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	if rerr := os.Remove(s.file.Name()); err == nil {
		err = rerr
	}
	s.file = nil
	return err
}

// closeAll closes the spills, returning the first error.
func closeAll(spills ...*spill) error {
	var errs []error
	for _, s := range spills {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
