package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// machine describes where the numbers were measured, for the report.
type machine struct {
	CPU      string `json:"cpu"`
	CPUs     int    `json:"cpus"`
	MemoryGB int    `json:"memory_gib"`
	OS       string `json:"os"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	NATS     string `json:"nats_server"`
	Redis    string `json:"redis_server,omitempty"`
	// WriteFsyncP50us is one 4 KiB append + fdatasync in --dir, the
	// median of 2,000, measured just before row 2 (measureWriteFsync); 0
	// when row 2 did not run.
	WriteFsyncP50us float64 `json:"write_fdatasync_4kib_p50_us,omitempty"`
	// LoopbackRTTP50us is one TCP round trip on 127.0.0.1 between two
	// processes (200 bytes out, 16 back), the median of 2,000, measured
	// right after WriteFsyncP50us (measureLoopbackRoundTrip); 0 when row 2
	// did not run.
	LoopbackRTTP50us float64 `json:"loopback_round_trip_p50_us,omitempty"`
}

func (m machine) String() string {
	s := fmt.Sprintf("%s, %d CPUs, %d GiB, %s, kernel %s, %s, nats-server %s", m.CPU, m.CPUs, m.MemoryGB, m.OS, m.Kernel, m.Go, m.NATS)
	if m.Redis != "" {
		s += ", redis-server " + m.Redis
	}
	if m.WriteFsyncP50us > 0 {
		s += fmt.Sprintf("; one 4 KiB write+fdatasync here, just before row 2: p50 %.0f µs", m.WriteFsyncP50us)
	}
	if m.LoopbackRTTP50us > 0 {
		s += fmt.Sprintf("; one loopback round trip between two processes: p50 %.0f µs", m.LoopbackRTTP50us)
	}
	return s
}

// describeMachine reads what it can from /proc and the tools; what it
// cannot read stays empty. natsBin is the nats-server executable of
// --nats-server, or empty for the in-process server.
func describeMachine(redisBin, natsBin string) machine {
	m := machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version(), NATS: server.VERSION}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.Atoi(f[1])
				m.MemoryGB = (kb + 512*1024) / (1024 * 1024)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if natsBin != "" {
		m.NATS = "? (own process)"
		if out, err := exec.Command(natsBin, "--version").Output(); err == nil {
			v := strings.TrimSpace(string(out)) // "nats-server: v2.15.2"
			if _, after, ok := strings.Cut(v, ": v"); ok {
				v = after
			}
			m.NATS = v + " (own process)"
		}
	} else {
		m.NATS += " (in process)"
	}
	if out, err := exec.Command(redisBin, "--version").Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if v, ok := strings.CutPrefix(f, "v="); ok {
				m.Redis = v
			}
		}
	}
	return m
}
