package loader

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/loader/abi"
)

// TestDamagedPlugins damages one structure of a real plugin at a time, as
// a bit flip or a truncation would, and requires the loader to refuse the
// file naming that structure. Each damage is one glibc's dynamic linker
// trusts; the test logs what opening the file does to a process (a child).
func TestDamagedPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	pristine := buildChildPlugin(t)
	data, err := os.ReadFile(pristine)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(pristine)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.ByteOrder != binary.LittleEndian {
		t.Skip("the damage is written for 64-bit little-endian files")
	}
	le := binary.LittleEndian
	// Where things are.
	var rw, dyn int = -1, -1
	for i, p := range f.Progs {
		switch {
		case p.Type == elf.PT_LOAD && p.Flags&elf.PF_W != 0:
			rw = i
		case p.Type == elf.PT_DYNAMIC:
			dyn = i
		}
	}
	if rw < 0 || dyn < 0 {
		t.Fatal("no writable PT_LOAD or no PT_DYNAMIC")
	}
	phoff := int(le.Uint64(data[32:]))
	ph := func(i, field int) int { return phoff + 56*i + field }
	dynOff := int(f.Progs[dyn].Off)
	entry := func(tag elf.DynTag) int { // file offset of the entry with tag
		for o := dynOff; o+16 <= dynOff+int(f.Progs[dyn].Filesz); o += 16 {
			if elf.DynTag(le.Uint64(data[o:])) == tag {
				return o
			}
		}
		t.Fatalf("no %v", tag)
		return 0
	}
	section := func(name string) int {
		s := f.Section(name)
		if s == nil {
			t.Fatalf("no section %s", name)
		}
		return int(s.Offset)
	}
	relaCount := int(le.Uint64(data[entry(elf.DT_RELACOUNT)+8:]))
	rela := section(".rela.dyn")

	cases := []struct {
		name, structure string
		damage          func(b []byte)
	}{
		{"segment past the end of the file", "program header", func(b []byte) {
			le.PutUint64(b[ph(rw, 32):], le.Uint64(b[ph(rw, 32):])+1<<24) // p_filesz
		}},
		{"segment offset not congruent", "program header", func(b []byte) {
			le.PutUint64(b[ph(rw, 8):], le.Uint64(b[ph(rw, 8):])+8) // p_offset
		}},
		{"data segment not writable", "PT_DYNAMIC", func(b []byte) {
			le.PutUint32(b[ph(rw, 4):], uint32(elf.PF_R)) // p_flags
		}},
		{"program headers outside the file", "ELF header", func(b []byte) {
			le.PutUint64(b[32:], uint64(len(b))) // e_phoff
		}},
		{"string table size", "dynamic entry", func(b []byte) {
			le.PutUint64(b[entry(elf.DT_STRSZ)+8:], 1<<28)
		}},
		{"relocation entry size", "dynamic entry", func(b []byte) {
			le.PutUint64(b[entry(elf.DT_RELAENT)+8:], 16)
		}},
		{"symbol entry size", "dynamic entry", func(b []byte) {
			le.PutUint64(b[entry(elf.DT_SYMENT)+8:], 32)
		}},
		{"no hash buckets", "hash table (DT_GNU_HASH)", func(b []byte) {
			le.PutUint32(b[section(".gnu.hash"):], 0)
		}},
		{"more relative relocations counted than there are", "relative relocations", func(b []byte) {
			le.PutUint64(b[entry(elf.DT_RELACOUNT)+8:], 1<<40)
		}},
		{"relocation symbol index", "relocation", func(b []byte) {
			o := rela + 24*relaCount + 8 // r_info of the first symbolic relocation
			le.PutUint64(b[o:], le.Uint64(b[o:])|0xffff<<40)
		}},
		{"relocation of a read-only address", "relocation", func(b []byte) {
			le.PutUint64(b[rela:], 0x10) // r_offset into the ELF header
		}},
		{"relative relocation outside the image", "relocation", func(b []byte) {
			le.PutUint64(b[rela+16:], 1<<40) // r_addend
		}},
		{"init function outside the code", "DT_INIT_ARRAY", func(b []byte) {
			ia := le.Uint64(b[entry(elf.DT_INIT_ARRAY)+8:])
			for o := rela; o < rela+24*relaCount; o += 24 {
				if le.Uint64(b[o:]) == ia {
					le.PutUint64(b[o+16:], 0) // points at the ELF header now
					return
				}
			}
			t.Fatal("no relocation of the init array")
		}},
		{"version index", "version table (DT_VERSYM)", func(b []byte) {
			le.PutUint16(b[section(".gnu.version")+2:], 0x7ff0)
		}},
		{"version needs chain", "version", func(b []byte) {
			le.PutUint32(b[section(".gnu.version_r")+12:], 1<<30) // vn_next
		}},
		{"unknown dynamic tag", "dynamic entry", func(b []byte) {
			b[entry(elf.DT_VERSYM)+1] = 0x71 // DT_VERSYM becomes 0x6fff71f0
		}},
		{"end of the dynamic section", "dynamic section", func(b []byte) {
			for o := dynOff; o+16 <= dynOff+int(f.Progs[dyn].Filesz); o += 16 {
				if le.Uint64(b[o:]) == 0 {
					le.PutUint64(b[o:], uint64(elf.DT_DEBUG))
				}
			}
		}},
	}
	l := newLoader(t, WithoutManifest())
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			b := append([]byte(nil), data...)
			c.damage(b)
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".so")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			af, err := abi.ReadFile(p)
			if err != nil {
				t.Fatalf("abi.ReadFile: %v, want a File with damage to %q", err, c.structure)
			}
			if af.Corrupt == nil || !strings.Contains(af.Corrupt.Structure, c.structure) {
				t.Fatalf("abi.ReadFile: damage %v, want damage to %q", af.Corrupt, c.structure)
			}
			err = l.Check(p)
			var re *RefusedError
			if !errors.As(err, &re) || len(re.Problems) != 1 || re.Problems[0].Kind != abi.CorruptELF ||
				!strings.HasPrefix(err.Error(), "refuse "+p+": the file is damaged: "+af.Corrupt.Error()) {
				t.Errorf("Check = %v, want a %s refusal", err, abi.CorruptELF)
			}
			r := openInChild(t, p)
			t.Logf("%v\nopened anyway: %s %s", af.Corrupt, r.outcome, r.detail)
		})
	}
}
