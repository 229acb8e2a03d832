package loader

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"plugin"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbuild/pbuild/loader/abi"
)

// The tests in this file corrupt a real plugin and open every corrupted
// copy that passes the loader's checks in a child process (this test
// binary run again), so that a crash kills the child only.

// childOpenEnv names the plugin a child process opens (see TestMain).
const childOpenEnv = "LOADER_TEST_CHILD_OPEN"

// Lines a child prints: the plugin loaded and its symbols work, or
// plugin.Open returned an error.
const (
	childLoaded  = "CHILD-LOADED"
	childOpenErr = "CHILD-OPEN-ERROR "
)

func TestMain(m *testing.M) {
	if p, ok := os.LookupEnv(childOpenEnv); ok {
		os.Exit(childOpen(p))
	}
	os.Exit(m.Run())
}

// childOpen opens the corrupt plugin at path and uses its symbols.
func childOpen(path string) int {
	p, err := plugin.Open(path)
	if err != nil {
		fmt.Println(childOpenErr + strings.ReplaceAll(err.Error(), "\n", " "))
		return 0
	}
	hello, err := p.Lookup("Hello")
	if err != nil {
		fmt.Println(childOpenErr + err.Error())
		return 0
	}
	count, err := p.Lookup("Count")
	if err != nil {
		fmt.Println(childOpenErr + err.Error())
		return 0
	}
	fmt.Println(childLoaded, hello.(func() string)(), *count.(*int))
	return 0
}

const corruptPluginSource = `package main

var Msg = "plugin " + "ok"

var Count int

func init() { Count = len(Msg) }

func Hello() string { return Msg }

func main() {}
`

// buildChildPlugin builds a small plugin that this test binary can load:
// with the machine's go command and the test binary's own build settings.
// It skips the test when that is not possible.
func buildChildPlugin(t testing.TB) string {
	t.Helper()
	skipUnlessPluginsBuild(t, "a plugin to corrupt")
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	bi, err := buildinfo.ReadFile(exe)
	if err != nil {
		t.Skip(err)
	}
	dir, tmp := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "tmp")
	// The plugin's own paths trimmed and no DWARF, so that every build
	// has the same layout and the seeded corruptions hit the same bytes.
	args := []string{"build", "-buildmode=plugin", "-o", "p.so", "-ldflags=-w", "-gcflags=example.com/corrupt=-trimpath=" + dir + "=>corrupt"}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "-trimpath" && s.Value == "true":
			args = append(args, "-trimpath")
		case s.Key == "-race" && s.Value == "true":
			args = append(args, "-race")
		case s.Key == "-tags":
			args = append(args, "-tags="+s.Value)
		case s.Key == "CGO_ENABLED" && s.Value != "1":
			t.Skip("the test binary was built without cgo: it cannot load plugins")
		}
	}
	for _, d := range []string{dir, tmp} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{"go.mod": goMod("example.com/corrupt"), "main.go": corruptPluginSource} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = dir
	cmd.Env = append(buildEnv(""), "TMPDIR="+tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build a plugin: %v\n%s", err, out)
	}
	p := filepath.Join(dir, "p.so")
	// The test binary must be a host this plugin fits.
	l, err := New(WithoutManifest())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Check(p); err != nil {
		t.Skipf("this test binary cannot load a plugin the go command builds (built with other settings?): %v", err)
	}
	if r := openInChild(t, p); r.outcome != outcomeLoaded {
		t.Fatalf("the intact plugin does not load in a child: %s\n%s", r.outcome, r.output)
	}
	return p
}

// Outcomes of opening a plugin in a child.
const (
	outcomeLoaded  = "loaded"
	outcomeRefused = "refused by the runtime"
	outcomeCrashed = "crashed"
	outcomeHung    = "hung"
)

type childResult struct {
	outcome string
	detail  string // how it crashed, or the error
	output  string
}

// openInChild opens the plugin at path in this test binary started again.
func openInChild(t testing.TB, path string) childResult {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childOpenEnv+"="+path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	r := childResult{output: out.String()}
	switch {
	case ctx.Err() != nil:
		r.outcome, r.detail = outcomeHung, "no result within 20s"
	case err != nil:
		r.outcome, r.detail = outcomeCrashed, err.Error()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				r.detail = "signal " + ws.Signal().String()
			}
		}
		if i := strings.Index(r.output, "fatal error: "); i >= 0 {
			r.detail += ": " + firstLines(r.output[i:], 1)
		} else if i := strings.Index(r.output, "Inconsistency detected"); i >= 0 {
			r.detail += ": " + firstLines(r.output[i:], 1)
		}
	case strings.Contains(r.output, "unexpected fault") || strings.Contains(r.output, "fatal error"):
		r.outcome, r.detail = outcomeCrashed, firstLines(r.output, 2)
	case strings.Contains(r.output, childLoaded+" plugin ok 9"):
		r.outcome = outcomeLoaded
	case strings.Contains(r.output, childOpenErr):
		r.outcome = outcomeRefused
		r.detail = firstLines(r.output[strings.Index(r.output, childOpenErr)+len(childOpenErr):], 1)
	default:
		// It printed something else: the plugin's data is wrong.
		r.outcome, r.detail = outcomeCrashed, "exit 0 without a result: "+firstLines(r.output, 2)
	}
	return r
}

// region is a structure of the plugin file. When stride is set, only
// bytes [field, field+size) of each stride-byte entry are covered.
type region struct {
	name         string
	start, end   int64
	covered      bool // the validation claims to cover it
	stride       int64
	field, fsize int64
	fields       []entryField // of each entry, for messages
}

type entryField struct {
	name     string
	at, size int64
}

var relaFields = []entryField{{"r_offset", 0, 8}, {"r_info", 8, 8}, {"r_addend", 16, 8}}

func (r region) contains(off int64) bool { return off >= r.start && off < r.end }

// field names the region and, for a table of entries, the entry and the
// field the byte at off belongs to.
func (r region) describe(off int64) string {
	if r.stride == 0 || len(r.fields) == 0 {
		return r.name
	}
	k := (off - r.start) % r.stride
	for _, f := range r.fields {
		if k >= f.at && k < f.at+f.size {
			return fmt.Sprintf("%s entry %d %s", r.name, (off-r.start)/r.stride, f.name)
		}
	}
	return r.name
}

func (r region) covers(off int64) bool {
	if !r.covered || !r.contains(off) {
		return false
	}
	if r.stride == 0 {
		return true
	}
	k := (off - r.start) % r.stride
	return k >= r.field && k < r.field+r.fsize
}

// coveredSections are the sections holding structures the validation
// checks in full; relocations are covered in their r_info field only (a
// damaged offset or addend that still points into the image is damaged
// data, which only a checksum finds).
var coveredSections = map[string]bool{
	".dynamic": true, ".gnu.hash": true, ".hash": true,
	".gnu.version": true, ".gnu.version_r": true, ".gnu.version_d": true,
}

// structures lists the regions of the ELF file at path: the ELF header,
// the program headers, the section header table and every section.
func structures(t testing.TB, path string) []region {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// e_phoff, e_shoff (64-bit little-endian files only are corrupted).
	if f.Class != elf.ELFCLASS64 || f.ByteOrder.String() != "LittleEndian" {
		t.Skip("the corruption tests know 64-bit little-endian files only")
	}
	phoff := int64(f.ByteOrder.Uint64(data[32:]))
	shoff := int64(f.ByteOrder.Uint64(data[40:]))
	regs := []region{
		{name: "ELF header", start: 0, end: 64, covered: true},
		{name: "program headers", start: phoff, end: phoff + int64(len(f.Progs))*56, covered: true},
		{name: "section headers", start: shoff, end: shoff + int64(len(f.Sections))*64},
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOBITS || s.Size == 0 {
			continue
		}
		r := region{name: s.Name, start: int64(s.Offset), end: int64(s.Offset + s.Size), covered: coveredSections[s.Name]}
		if s.Type == elf.SHT_RELA {
			r.covered, r.stride, r.field, r.fsize, r.fields = true, 24, 8, 8, relaFields
		}
		regs = append(regs, r)
	}
	return regs
}

func regionOf(regs []region, off int64) region {
	for _, r := range regs {
		if r.contains(off) {
			return r
		}
	}
	return region{name: "(between sections)"}
}

// loaderVerdict is what the loader says about the file at path before it
// would open it: "" when it would open it.
func loaderVerdict(l *Loader, path string) string {
	err := l.Check(path)
	if err == nil {
		return ""
	}
	var re *RefusedError
	if errors.As(err, &re) && len(re.Problems) > 0 {
		return string(re.Problems[0].Kind)
	}
	var ae *abi.ReadError
	if errors.As(err, &ae) {
		return "unreadable"
	}
	return "refused"
}

// TestCorruptPlugins corrupts single bytes of a real plugin at random
// (seeded) offsets across the whole file, and opens every corrupted copy
// in a child, whether or not the loader's check accepts it, to count what
// the check prevents. It fails when a copy the check accepts crashes the
// child and the corrupted byte lies in a structure the check covers.
func TestCorruptPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin and starts 250 processes")
	}
	n, seed := 250, int64(20261127)
	if v := os.Getenv("LOADER_TEST_CORRUPTIONS"); v != "" { // for exploring: N,SEED
		fmt.Sscanf(v, "%d,%d", &n, &seed)
	}
	pristine := buildChildPlugin(t)
	data, err := os.ReadFile(pristine)
	if err != nil {
		t.Fatal(err)
	}
	regs := structures(t, pristine)
	l := newLoader(t, WithoutManifest())
	dir := t.TempDir()

	type result struct {
		off     int64
		old, nw byte
		region  region
		verdict string // loaderVerdict
		child   childResult
	}
	rng := rand.New(rand.NewSource(seed))
	results := make([]result, n)
	for i := range results {
		off := int64(rng.Intn(len(data)))
		x := byte(rng.Intn(255) + 1)
		results[i] = result{off: off, old: data[off], nw: data[off] ^ x, region: regionOf(regs, off)}
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 2*runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				r := &results[i]
				p := filepath.Join(dir, fmt.Sprintf("c%03d.so", i))
				c := append([]byte(nil), data...)
				c[r.off] = r.nw
				if err := os.WriteFile(p, c, 0o644); err != nil {
					t.Error(err)
					continue
				}
				done := make(chan struct{})
				go func() {
					defer close(done)
					r.verdict = loaderVerdict(l, p)
				}()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Errorf("checking the plugin corrupted at %#x hangs", r.off)
					continue
				}
				r.child = openInChild(t, p)
				os.Remove(p)
			}
		}()
	}
	for i := range results {
		work <- i
	}
	close(work)
	wg.Wait()

	count := map[string]int{}
	byRegion := map[string][2]int{} // crashes without and with the check
	rejectedWouldCrash := 0
	for _, r := range results {
		crashed := r.child.outcome == outcomeCrashed || r.child.outcome == outcomeHung
		if crashed {
			count["crash without check"]++
			c := byRegion[r.region.name]
			c[0]++
			byRegion[r.region.name] = c
		}
		if r.verdict != "" {
			count["rejected by the check"]++
			count["rejected: "+r.verdict]++
			if crashed {
				rejectedWouldCrash++
			}
			continue
		}
		count["accepted: "+r.child.outcome]++
		if crashed {
			c := byRegion[r.region.name]
			c[1]++
			byRegion[r.region.name] = c
			claim := "outside the structures the check covers"
			if r.region.covers(r.off) {
				claim = "INSIDE a structure the check covers"
				t.Errorf("byte %#x (%s) %#02x -> %#02x: the check accepts it, and opening it %s (%s), %s:\n%s",
					r.off, r.region.describe(r.off), r.old, r.nw, r.child.outcome, r.child.detail, claim, firstLines(r.child.output, 6))
			} else {
				t.Logf("byte %#x (%s) %#02x -> %#02x: accepted, %s (%s), %s:\n%s", r.off, r.region.describe(r.off), r.old, r.nw, r.child.outcome, r.child.detail, claim, firstLines(r.child.output, 4))
			}
		}
	}
	for _, r := range results {
		if r.verdict != "" && (r.child.outcome == outcomeCrashed || r.child.outcome == outcomeHung) {
			t.Logf("byte %#x (%s) %#02x -> %#02x: rejected (%s); opening it anyway: %s (%s)", r.off, r.region.describe(r.off), r.old, r.nw, r.verdict, r.child.outcome, r.child.detail)
		}
	}
	var keys []string
	for k := range count {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d single-byte corruptions of a %d-byte plugin (seed %d):\n", n, len(data), seed)
	fmt.Fprintf(&b, "  without the check: %d crash or hang the process that opens them\n", count["crash without check"])
	fmt.Fprintf(&b, "  with the check:    %d rejected (%d of them would crash), %d accepted: %d load, %d refused cleanly by the runtime, %d crash or hang\n",
		count["rejected by the check"], rejectedWouldCrash, n-count["rejected by the check"],
		count["accepted: "+outcomeLoaded], count["accepted: "+outcomeRefused], count["accepted: "+outcomeCrashed]+count["accepted: "+outcomeHung])
	for _, k := range keys {
		if strings.HasPrefix(k, "rejected: ") {
			fmt.Fprintf(&b, "  %s: %d\n", k, count[k])
		}
	}
	var names []string
	for k := range byRegion {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "  crashes in %s: %d without the check, %d with it\n", k, byRegion[k][0], byRegion[k][1])
	}
	t.Log(b.String())
}

// FuzzPreOpen corrupts bytes inside the structures the loader's check
// covers, at offsets the fuzzer picks. The check must neither panic nor
// hang, and a corrupted plugin it accepts must not crash the process that
// opens it (a child).
func FuzzPreOpen(f *testing.F) {
	if testing.Short() {
		f.Skip("builds a plugin")
	}
	pristine := buildChildPlugin(f)
	data, err := os.ReadFile(pristine)
	if err != nil {
		f.Fatal(err)
	}
	var regs []region
	for _, r := range structures(f, pristine) {
		if r.covered {
			regs = append(regs, r)
		}
	}
	l, err := New(WithoutManifest())
	if err != nil {
		f.Fatal(err)
	}
	for i := range regs {
		f.Add(uint8(i), uint32(0), byte(0x01), uint8(i), uint32(17), byte(0x80))
		f.Add(uint8(i), uint32(8*i+3), byte(0xff), uint8(0), uint32(0), byte(0))
	}
	f.Fuzz(func(t *testing.T, r1 uint8, o1 uint32, x1 byte, r2 uint8, o2 uint32, x2 byte) {
		c := append([]byte(nil), data...)
		var what []string
		for _, k := range []struct {
			r uint8
			o uint32
			x byte
		}{{r1, o1, x1}, {r2, o2, x2}} {
			reg := regs[int(k.r)%len(regs)]
			rel := int64(k.o) % (reg.end - reg.start)
			if reg.stride > 0 {
				rel = rel/reg.stride*reg.stride + reg.field + rel%reg.fsize
				if reg.start+rel >= reg.end {
					continue
				}
			}
			c[reg.start+rel] ^= k.x
			what = append(what, fmt.Sprintf("byte %#x (%s) %#02x -> %#02x", reg.start+rel, reg.describe(reg.start+rel), data[reg.start+rel], c[reg.start+rel]))
		}
		p := filepath.Join(t.TempDir(), "c.so")
		if err := os.WriteFile(p, c, 0o644); err != nil {
			t.Fatal(err)
		}
		var verdict string
		done := make(chan struct{})
		go func() {
			defer close(done)
			verdict = loaderVerdict(l, p)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the check hangs")
		}
		if verdict != "" {
			return
		}
		if r := openInChild(t, p); r.outcome == outcomeCrashed || r.outcome == outcomeHung {
			t.Fatalf("the check accepts the plugin corrupted at %s, and opening it %s (%s):\n%s", strings.Join(what, ", "), r.outcome, r.detail, firstLines(r.output, 8))
		}
	})
}
