package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// recording is a recorded tenant's directory: the objects of each collection, their properties in file order.
type recording struct {
	items map[string][][]prop // by lower-case collection path, e.g. "/users"
}

// has reports whether the recording holds a file for the collection.
func (r *recording) has(key string) bool {
	_, ok := r.items[key]
	return ok
}

// recordedFS resolves a tenant's Recorded folder.
func (w *World) recordedFS(dir string) (fs.FS, string) {
	switch {
	case filepath.IsAbs(dir):
		return os.DirFS(dir), "."
	case w.dir != nil:
		return w.dir, path.Clean(filepath.ToSlash(dir))
	}
	return os.DirFS(dir), "."
}

// loadRecording reads every collection file of a recorded tenant: <path>.json and further pages <path>.2.json,
// <path>.3.json…, where path is the collection's path below /v1.0 (e.g. users.json,
// roleManagement/directory/roleAssignments.json).
func loadRecording(fsys fs.FS, dir string) (*recording, error) {
	if _, err := fs.Stat(fsys, dir); err != nil {
		return nil, err
	}
	rec := &recording{items: map[string][][]prop{}}
	for _, c := range collectionList {
		base := path.Join(dir, strings.TrimPrefix(c.path, "/"))
		for page := 1; ; page++ {
			name := base + ".json"
			if page > 1 {
				name = base + "." + strconv.Itoa(page) + ".json"
			}
			b, err := fs.ReadFile(fsys, name)
			if errors.Is(err, fs.ErrNotExist) {
				break
			}
			if err != nil {
				return nil, err
			}
			objs, err := parseCollection(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			key := strings.ToLower(c.path)
			rec.items[key] = append(rec.items[key], objs...)
		}
	}
	return rec, nil
}

// parseCollection reads a Graph collection response ({"value":[…]}, any other members ignored) or a bare array of
// objects, keeping each object's properties in order.
func parseCollection(b []byte) ([][]prop, error) {
	b = bytes.TrimSpace(b)
	var raw []json.RawMessage
	if len(b) > 0 && b[0] == '[' {
		if err := json.Unmarshal(b, &raw); err != nil {
			return nil, err
		}
	} else {
		var page struct {
			Value *[]json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, err
		}
		if page.Value == nil {
			// A single entity, such as a recorded /organization/{id}.
			raw = []json.RawMessage{b}
		} else {
			raw = *page.Value
		}
	}
	out := make([][]prop, 0, len(raw))
	for i, r := range raw {
		o, err := parseObject(r)
		if err != nil {
			return nil, fmt.Errorf("value[%d]: %w", i, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// parseObject splits a JSON object into its members, in order, each value kept as raw JSON.
func parseObject(b []byte) ([]prop, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var props []prop
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		props = append(props, prop{name, v})
	}
	return props, nil
}

// propString returns a recorded or synthetic property as a string, or "".
func propString(props []prop, name string) string {
	for _, p := range props {
		if p.name != name {
			continue
		}
		switch v := p.value.(type) {
		case string:
			return v
		case json.RawMessage:
			var s string
			_ = json.Unmarshal(v, &s)
			return s
		}
	}
	return ""
}

// propRaw returns a property decoded into an any, or nil.
func propAny(props []prop, name string) any {
	for _, p := range props {
		if p.name != name {
			continue
		}
		if raw, ok := p.value.(json.RawMessage); ok {
			var v any
			_ = json.Unmarshal(raw, &v)
			return v
		}
		b, _ := json.Marshal(p.value)
		var v any
		_ = json.Unmarshal(b, &v)
		return v
	}
	return nil
}
