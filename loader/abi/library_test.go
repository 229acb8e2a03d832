package abi

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestCheckLibrary(t *testing.T) {
	lib := func(mode string, exports ...string) *File {
		f := bin("lib/nbd.so", false, pk())
		f.Settings["-buildmode"] = mode
		f.CExports = exports
		f.GLIBC = "GLIBC_2.34"
		return f
	}
	plugin := bin("plugins/greet.so", true, pk("runtime", "r1"))
	exe := bin("greeter", false, pk())
	damaged := lib(ModeCShared)
	damaged.Corrupt = &CorruptError{Structure: "dynamic section", Offset: -1, Detail: "truncated"}
	archive := lib(ModeCArchive, "plugin_init")
	archive.GLIBC = ""
	for _, c := range []struct {
		name    string
		f       *File
		opts    LibraryOptions
		kinds   []Kind
		symbols []string
		detail  string
	}{
		{"c-shared", lib(ModeCShared, "plugin_init", "plugin_open"), LibraryOptions{Symbols: []string{"plugin_open", "plugin_init"}, MaxGLIBC: "2.36"}, nil, nil, ""},
		{"c-archive", archive, LibraryOptions{Symbols: []string{"plugin_init"}, MaxGLIBC: "2.17", Want: ModeCArchive}, nil, nil, ""},
		{"Go plugin", plugin, LibraryOptions{}, []Kind{GoPluginForC}, nil, "a Go plugin (-buildmode=plugin), not a C-ABI library"},
		{"Go plugin, symbols asked", plugin, LibraryOptions{Symbols: []string{"x"}}, []Kind{GoPluginForC}, nil, "hangs or crashes"},
		{"executable", exe, LibraryOptions{}, []Kind{NotCLibrary}, nil, "not a C-ABI library (built with -buildmode=exe)"},
		{"other build mode", lib(ModeCShared), LibraryOptions{Want: ModeCArchive}, []Kind{NotCLibrary}, nil, "built with -buildmode=c-shared, not c-archive"},
		{"damaged", damaged, LibraryOptions{}, []Kind{CorruptELF}, nil, "damaged"},
		{"glibc", lib(ModeCShared), LibraryOptions{MaxGLIBC: "2.31"}, []Kind{GLIBCTooNew}, nil, "needs GLIBC_2.34, the target has glibc 2.31"},
		{"missing symbol", lib(ModeCShared, "plugin_init"), LibraryOptions{Symbols: []string{"plugin_open", "plugin_init", "plugin_open"}},
			[]Kind{MissingCSymbol}, []string{"plugin_open"}, "does not export the C symbol plugin_open: a C host's dlsym finds no such symbol"},
		{"missing symbols of an archive", archive, LibraryOptions{Symbols: []string{"b", "a"}},
			[]Kind{MissingCSymbol}, []string{"a", "b"}, "does not export the C symbols a, b: a C program's link finds no such symbol"},
		{"glibc and symbols", lib(ModeCShared), LibraryOptions{MaxGLIBC: "2.17", Symbols: []string{"x"}}, []Kind{GLIBCTooNew, MissingCSymbol}, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps := CheckLibrary(c.f, c.opts)
			var kinds []Kind
			for _, p := range ps {
				kinds = append(kinds, p.Kind)
				if p.Plugin != c.f.Path {
					t.Errorf("problem %s names %q, want %q", p.Kind, p.Plugin, c.f.Path)
				}
			}
			if !reflect.DeepEqual(kinds, c.kinds) {
				t.Fatalf("kinds %v, want %v: %+v", kinds, c.kinds, ps)
			}
			if c.symbols != nil && !reflect.DeepEqual(ps[len(ps)-1].Symbols, c.symbols) {
				t.Errorf("symbols %v, want %v", ps[len(ps)-1].Symbols, c.symbols)
			}
			if c.detail != "" && !strings.Contains(ps[0].Detail, c.detail) {
				t.Errorf("detail %q lacks %q", ps[0].Detail, c.detail)
			}
		})
	}
}

// arMember is a member of a synthetic ar archive: name as the header
// holds it, and the data.
type arMember struct {
	name string
	data []byte
}

func arArchive(members ...arMember) []byte {
	var b bytes.Buffer
	b.WriteString(ArchiveMagic)
	for _, m := range members {
		fmt.Fprintf(&b, "%-16s%-12s%-6s%-6s%-8s%-10d`\n", m.name, "0", "0", "0", "644", len(m.data))
		b.Write(m.data)
		if len(m.data)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func TestArchiveMembers(t *testing.T) {
	longNames := []byte("a_very_long_member_name.o/\nanother_long_name.o/\n")
	bsd := append([]byte("bsd_long_member_name.o\x00\x00"), "xyz"...)
	good := arArchive(
		arMember{"/", []byte("\x00\x00\x00\x00")},
		arMember{"//", longNames},
		arMember{"go.o/", []byte("odd")},
		arMember{"/0", []byte("aa")},
		arMember{"/27", []byte("b")},
		arMember{"#1/24", bsd},
		arMember{"__.SYMDEF", []byte("index")},
	)
	ms, err := archiveMembers(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%s=%s", m.name, good[m.off:m.off+m.size]))
	}
	want := []string{"go.o=odd", "a_very_long_member_name.o=aa", "another_long_name.o=b", "bsd_long_member_name.o=xyz"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("members %q, want %q", got, want)
	}

	truncated := good[:len(good)-3]
	badTerm := bytes.Replace(arArchive(arMember{"go.o/", []byte("x")}), []byte("`\n"), []byte("xx"), 1)
	badSize := bytes.Replace(arArchive(arMember{"go.o/", []byte("x")}), []byte("1         `"), []byte("-1        `"), 1)
	huge := bytes.Replace(arArchive(arMember{"go.o/", []byte("x")}), []byte("1         `"), []byte("9999999999`"), 1)
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", truncated, "past the end"},
		{"header cut", good[:len(ArchiveMagic)+30], "truncated member header"},
		{"bad terminator", badTerm, "bad terminator"},
		{"negative size", badSize, "bad size"},
		{"size past the end", huge, "past the end"},
		{"long name out of range", arArchive(arMember{"//", []byte("x/\n")}, arMember{"/99", nil}), "bad long name"},
		{"long name without table", arArchive(arMember{"/3", nil}), "bad long name"},
		{"BSD name too long", arArchive(arMember{"#1/9", []byte("abc")}), "bad BSD name length"},
	} {
		if _, err := archiveMembers(bytes.NewReader(c.data), int64(len(c.data))); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

func TestReadArchiveErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
		is   error
	}{
		{"not an archive", []byte("just text, no magic"), ErrNotELF},
		{"thin", []byte("!<thin>\n"), ErrThinArchive},
		{"no Go object", arArchive(arMember{"a.o/", []byte("not elf")}), ErrNoBuildInfo},
		{"empty", []byte(ArchiveMagic), ErrNoBuildInfo},
	} {
		_, err := ReadArchive(bytes.NewReader(c.data), "x.a")
		var re *ReadError
		if !errors.As(err, &re) || re.Path != "x.a" || !errors.Is(err, c.is) {
			t.Errorf("%s: err = %v, want a *ReadError wrapping %v", c.name, err, c.is)
		}
	}
	// An ELF member that debug/elf cannot read is an error naming it.
	bad := arArchive(arMember{"go.o/", append([]byte(elf.ELFMAG), 9, 9, 9, 9)})
	if _, err := ReadArchive(bytes.NewReader(bad), "x.a"); err == nil || !strings.Contains(err.Error(), "member go.o") {
		t.Errorf("damaged member: err = %v", err)
	}
	if IsArchive(bytes.NewReader([]byte("!<arch"))) || !IsArchive(bytes.NewReader([]byte(ArchiveMagic))) {
		t.Error("IsArchive")
	}
}

// libSource is a C-ABI library with two //export functions, a global C
// function and a global C variable.
var libSource = map[string]string{
	"go.mod": "module example.com/nbd\n\ngo 1.22\n",
	"main.go": `package main

/*
int pb_c_visible(int x);
*/
import "C"

//export plugin_init
func plugin_init() C.int { return 0 }

//export plugin_open
func plugin_open(x C.int) C.int { return C.pb_c_visible(x) }

func main() {}
`,
	"vis.c": "static int helper(int x) { return x + 1; }\nint pb_c_visible(int x) { return helper(x) * 2; }\nint pb_data = 3;\n",
}

// buildLibrary builds libSource with -buildmode=mode into dir, with the
// machine's go command; it skips the test without go or gcc.
func buildLibrary(t *testing.T, mode, out string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds C-ABI libraries")
	}
	if runtime.GOOS != "linux" {
		t.Skip("C-ABI libraries are tested on linux")
	}
	for _, tool := range []string{"go", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: cgo is needed to build C-ABI libraries", tool)
		}
	}
	src := filepath.Join(t.TempDir(), "src")
	tmp := filepath.Join(t.TempDir(), "tmp")
	for name, content := range libSource {
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-buildmode="+mode, "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=1", "GOPROXY=off", "TMPDIR="+tmp)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildmode=%s: %v\n%s", mode, err, b)
	}
}

// TestReadLibraries reads real C-ABI libraries and a plugin of the same
// source: what a C host can use, their glibc needs and build info.
func TestReadLibraries(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	for _, mode := range []string{ModeCShared, ModeCArchive, "plugin"} {
		files[mode] = filepath.Join(dir, "lib."+mode)
		buildLibrary(t, mode, files[mode])
	}
	exports := []string{"pb_c_visible", "pb_data", "plugin_init", "plugin_open"}
	for mode, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ReadArtifact(bytes.NewReader(data), p)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if f.BuildMode() != mode || f.GoVersion != runtime.Version() || f.MainPath != "example.com/nbd" || f.Class != elf.ELFCLASS64 && runtime.GOARCH == "amd64" {
			t.Errorf("%s: build mode %s, %s, %s, %s", mode, f.BuildMode(), f.GoVersion, f.MainPath, f.Class)
		}
		if !reflect.DeepEqual(f.CExports, exports) {
			t.Errorf("%s: CExports %q, want %q", mode, f.CExports, exports)
		}
		if mode == ModeCArchive {
			if f.GLIBC != "" || f.GLIBCNeeds != nil {
				t.Errorf("c-archive: glibc needs %q", f.GLIBCNeeds)
			}
		} else {
			n := len(f.GLIBCNeeds)
			if n == 0 || f.GLIBC != f.GLIBCNeeds[n-1] || f.GLIBCNeeds[0] == "" {
				t.Errorf("%s: GLIBC %q, needs %q", mode, f.GLIBC, f.GLIBCNeeds)
			}
			for i := 1; i < n; i++ {
				if CompareGLIBC(f.GLIBCNeeds[i-1], f.GLIBCNeeds[i]) >= 0 {
					t.Errorf("%s: needs %q not sorted", mode, f.GLIBCNeeds)
				}
			}
		}
		ps := CheckLibrary(f, LibraryOptions{Symbols: []string{"plugin_init", "plugin_open"}})
		switch {
		case mode == "plugin" && (len(ps) != 1 || ps[0].Kind != GoPluginForC):
			t.Errorf("plugin: %+v, want %s", ps, GoPluginForC)
		case mode != "plugin" && len(ps) != 0:
			t.Errorf("%s: %+v", mode, ps)
		}
		if ps := CheckLibrary(f, LibraryOptions{Symbols: []string{"plugin_close"}}); mode != "plugin" && (len(ps) != 1 || ps[0].Kind != MissingCSymbol) {
			t.Errorf("%s: missing plugin_close: %+v", mode, ps)
		}
	}
}

func TestSortGLIBC(t *testing.T) {
	vs := []string{"GLIBC_2.34", "GLIBC_2.2.5", "GLIBC_2.3.2", "GLIBC_PRIVATE", "GLIBC_2.32", "GLIBC_2.3"}
	SortGLIBC(vs)
	want := []string{"GLIBC_PRIVATE", "GLIBC_2.2.5", "GLIBC_2.3", "GLIBC_2.3.2", "GLIBC_2.32", "GLIBC_2.34"}
	if !reflect.DeepEqual(vs, want) {
		t.Errorf("SortGLIBC = %q, want %q", vs, want)
	}
}

// FuzzReadArchive feeds arbitrary archives to ReadArchive: it must not
// panic, and what it returns is an error or a File with build info.
func FuzzReadArchive(f *testing.F) {
	f.Add(arArchive(arMember{"/", []byte("idx")}, arMember{"//", []byte("long_name.o/\n")}, arMember{"/0", []byte("x")}))
	f.Add(arArchive(arMember{"#1/4", []byte("a.o\x00" + elf.ELFMAG)}))
	f.Add(arArchive(arMember{"go.o/", append([]byte(elf.ELFMAG), 2, 1, 1, 0)}))
	f.Add([]byte(ArchiveMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ReadArchive(bytes.NewReader(data), "x.a")
		if err == nil && (a == nil || a.Settings == nil) {
			t.Fatalf("ReadArchive = %+v, nil", a)
		}
	})
}
