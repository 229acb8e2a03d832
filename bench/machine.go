package main

import (
	"bufio"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// machine describes where the benchmark ran.
type machine struct {
	CPU, CPUs, Memory, Kernel, OS string
	Docker, StorageDriver, Cgroup string
	TempFS                        string // file system of the temp dir
	GoMachine, GoPinned, Pbuild   string
	LoadStart, LoadEnd            string
}

func describeMachine(tmp string) machine {
	m := machine{CPUs: itoa(runtime.NumCPU()), GoMachine: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				f := strings.Fields(line)
				if len(f) >= 2 {
					kb := atoi(f[1])
					m.Memory = ftoa(float64(kb)/1024/1024, 1) + " GiB"
				}
			}
		}
	}
	m.Kernel = readTrim("/proc/sys/kernel/osrelease")
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}|{{.Driver}}|{{.CgroupDriver}} cgroup v{{.CgroupVersion}}").Output(); err == nil {
		f := strings.Split(strings.TrimSpace(string(out)), "|")
		if len(f) == 3 {
			m.Docker, m.StorageDriver, m.Cgroup = f[0], f[1], f[2]
		}
	}
	if out, err := exec.Command("stat", "-f", "-c", "%T", tmp).Output(); err == nil {
		m.TempFS = strings.TrimSpace(string(out))
	}
	m.LoadStart = loadAvg()
	return m
}

func loadAvg() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func readTrim(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// loadSampler samples the 1-minute load average while the benchmark runs.
type loadSampler struct {
	mu      sync.Mutex
	samples []float64
	stop    chan struct{}
}

func startLoadSampler() *loadSampler {
	l := &loadSampler{stop: make(chan struct{})}
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			l.sample()
			select {
			case <-l.stop:
				return
			case <-t.C:
			}
		}
	}()
	return l
}

func (l *loadSampler) sample() {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) == 0 {
		return
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return
	}
	l.mu.Lock()
	l.samples = append(l.samples, v)
	l.mu.Unlock()
}

func (l *loadSampler) close() { close(l.stop) }

func (l *loadSampler) mean() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) == 0 {
		return 0
	}
	var sum float64
	for _, v := range l.samples {
		sum += v
	}
	return sum / float64(len(l.samples))
}

func (l *loadSampler) max() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := 0.0
	for _, v := range l.samples {
		m = math.Max(m, v)
	}
	return m
}
