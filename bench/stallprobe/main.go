// Command stallprobe measures how this machine's disk flushes stall
// everything else on it. One thread spins, noting every gap over 1 ms in
// its clock readings (time it did not run); another appends 2.5 KiB to a
// preallocated file with pwrite and fdatasync, at each of several paces.
// On the project's VM (2026-11-30) the host stopped both vCPUs for 2–9
// ms every 100 ms once the flushes passed about 700 a second
// (docs/performance-history.md, "After the 13:25 run"): the stalls in
// the end-to-end latency of every system that fsyncs per batch.
//
// Run it from bench/ on the disk the benchmarks use:
//
//	go run ./stallprobe --dir /work/tmp-bench
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "directory for the flushed file (a real disk, the one the benchmarks use)")
	each := flag.Duration("each", 2500*time.Millisecond, "how long each pace runs")
	paces := flag.String("paces", "off,1ms,500us,300us,0", "comma-separated times between flushes (0: back to back; off: no flushes)")
	flag.Parse()
	runtime.GOMAXPROCS(2)
	f, err := preallocated(*dir, 64<<20)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stallprobe:", err)
		os.Exit(1)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	fmt.Printf("%-8s %10s %5s  %s\n", "pace", "flushes/s", "gaps", "the spinner's gaps over 1 ms")
	for _, p := range strings.Split(*paces, ",") {
		pace, off := time.Duration(0), p == "off"
		if !off {
			if pace, err = time.ParseDuration(p); err != nil {
				fmt.Fprintf(os.Stderr, "stallprobe: --paces: %q: %v\n", p, err)
				os.Exit(2)
			}
		}
		r, err := probe(f, pace, off, *each)
		if err != nil {
			fmt.Fprintln(os.Stderr, "stallprobe:", err)
			os.Exit(1)
		}
		fmt.Printf("%-8s %10.0f %5d  %s\n", p, r.flushesPerSec, len(r.gaps), r.gapList())
	}
}

// result is one pace's outcome.
type result struct {
	flushesPerSec float64
	gaps          []gap
}

// gap is a stretch the spinning thread did not run: from at (since the
// probe started) for length.
type gap struct{ at, length time.Duration }

// gapList describes the gaps: their lengths' range and, when there are
// several, the median time from one to the next (100 ms on the project's
// VM: the host's period).
func (r result) gapList() string {
	if len(r.gaps) == 0 {
		return "-"
	}
	lengths := make([]time.Duration, len(r.gaps))
	for i, g := range r.gaps {
		lengths[i] = g.length
	}
	slices.Sort(lengths)
	s := fmt.Sprintf("%.1f-%.1f ms", ms(lengths[0]), ms(lengths[len(lengths)-1]))
	if len(r.gaps) > 2 {
		spacing := make([]time.Duration, len(r.gaps)-1)
		for i := range spacing {
			spacing[i] = r.gaps[i+1].at - r.gaps[i].at
		}
		slices.Sort(spacing)
		s += fmt.Sprintf(", one every %.0f ms (median)", ms(spacing[len(spacing)/2]))
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// preallocated creates a file of size zero-filled and fsynced bytes, so
// that a flush writes data only, as Herald's segments are.
func preallocated(dir string, size int) (*os.File, error) {
	f, err := os.CreateTemp(dir, "stallprobe-")
	if err != nil {
		return nil, err
	}
	zero := make([]byte, 1<<20)
	for n := 0; n < size; n += len(zero) {
		if _, err := f.Write(zero); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// probe spins on one thread for d while another flushes f every pace
// (unless off), and returns the flush rate and the spinner's gaps.
func probe(f *os.File, pace time.Duration, off bool, d time.Duration) (result, error) {
	start := time.Now()
	end := start.Add(d)
	var (
		wg      sync.WaitGroup
		flushes int
		ferr    error
	)
	if !off {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			buf := make([]byte, 2560)
			var at int64
			for time.Now().Before(end) {
				t0 := time.Now()
				if _, err := f.WriteAt(buf, at); err != nil {
					ferr = err
					return
				}
				if err := syscall.Fdatasync(int(f.Fd())); err != nil {
					ferr = err
					return
				}
				flushes++
				at = (at + int64(len(buf))) % (60 << 20)
				if rest := pace - time.Since(t0); rest > 0 {
					time.Sleep(rest)
				}
			}
		}()
	}
	runtime.LockOSThread()
	readings := spin(end)
	runtime.UnlockOSThread()
	wg.Wait()
	if ferr != nil {
		return result{}, ferr
	}
	return result{flushesPerSec: float64(flushes) / d.Seconds(), gaps: gapsIn(readings, start, time.Millisecond)}, nil
}

// spin reads the clock until end and keeps the readings that follow a
// gap of over 100 µs (with the reading before each), enough to find the
// long gaps without keeping millions of readings.
func spin(end time.Time) []time.Time {
	var kept []time.Time
	last := time.Now()
	for last.Before(end) {
		now := time.Now()
		if now.Sub(last) > 100*time.Microsecond {
			kept = append(kept, last, now)
		}
		last = now
	}
	return kept
}

// gapsIn returns the gaps longer than min between consecutive pairs of
// readings (as spin keeps them, in time order: before, after).
func gapsIn(readings []time.Time, start time.Time, min time.Duration) []gap {
	var gs []gap
	for i := 0; i+1 < len(readings); i += 2 {
		if l := readings[i+1].Sub(readings[i]); l > min {
			gs = append(gs, gap{at: readings[i].Sub(start), length: l})
		}
	}
	return gs
}
