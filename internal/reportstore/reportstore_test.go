package reportstore

import (
	"errors"
	"testing"
)

func TestCheckName(t *testing.T) {
	valid := []string{"a", "a.json", "reports/2024/03/05/r.xlsx", "a/b/c", "...", "a/.../b", ".hidden", "a b/ü.json"}
	for _, name := range valid {
		if err := checkName(name); err != nil {
			t.Errorf("checkName(%q) = %v, want nil", name, err)
		}
	}
	invalid := []string{"", ".", "..", "../x", "/abs", "a/../../b", `a\b`, "a//b", "a/", "./a", "a/.", "x\x00", "x\x7f", "\xff"}
	for _, name := range invalid {
		if err := checkName(name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("checkName(%q) = %v, want ErrInvalidName", name, err)
		}
	}
}

func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a/./b", `a\b`, "/x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if checkName(name) != nil {
			return
		}
		// An accepted name never climbs out of, or starts above, the root.
		for _, bad := range []string{"/", `\`} {
			if name[:1] == bad {
				t.Errorf("checkName(%q) accepted a rooted name", name)
			}
		}
		for _, el := range splitSlash(name) {
			if el == "" || el == "." || el == ".." {
				t.Errorf("checkName(%q) accepted element %q", name, el)
			}
		}
	})
}

func splitSlash(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func TestContentType(t *testing.T) {
	for name, want := range map[string]string{
		"reports/x.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		"runs/x.JSON":    "application/json",
		"x.bin":          "application/octet-stream",
		"noext":          "application/octet-stream",
	} {
		if got := contentType(name); got != want {
			t.Errorf("contentType(%q) = %q, want %q", name, got, want)
		}
	}
}
