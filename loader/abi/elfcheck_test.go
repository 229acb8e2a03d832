package abi

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzValidateELF: the validation and Read never panic, whatever the
// bytes. (The loader's FuzzPreOpen corrupts a real plugin and opens what
// passes.)
func FuzzValidateELF(f *testing.F) {
	f.Add(buildTestELF(f, elf.ELFCLASS64, binary.LittleEndian, elf.EM_X86_64, elf.SHT_DYNSYM, make([]byte, 8), nil))
	f.Add(buildTestELF(f, elf.ELFCLASS32, binary.BigEndian, elf.EM_MIPS, elf.SHT_SYMTAB, make([]byte, 8), nil))
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, goPlugin := range []bool{false, true} {
			err := validateELF(bytes.NewReader(data), int64(len(data)), goPlugin)
			var ce *CorruptError
			if err != nil && !errors.As(err, &ce) {
				t.Fatalf("validateELF error %T %v, want a *CorruptError", err, err)
			}
		}
		if f, err := Read(bytes.NewReader(data), "fuzz"); err == nil && f == nil {
			t.Fatal("Read returned neither a File nor an error")
		}
	})
}

func TestValidateSynthetic(t *testing.T) {
	// The synthetic test files are relocatable-style objects without
	// program headers: not shared objects the dynamic linker could load.
	data := buildTestELF(t, elf.ELFCLASS64, binary.LittleEndian, elf.EM_X86_64, elf.SHT_DYNSYM, make([]byte, 8), nil)
	err := validateELF(bytes.NewReader(data), int64(len(data)), false)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Structure != "ELF header" {
		t.Errorf("validateELF(synthetic) = %v, want damage to the ELF header", err)
	}
	if err := validateELF(bytes.NewReader(data[:10]), 10, false); !errors.As(err, &ce) || ce.Offset != 0 {
		t.Errorf("validateELF(10 bytes) = %v", err)
	}
}
