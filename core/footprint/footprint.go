// Package footprint gives back what a long-running Vigil process touched
// only to start: the pages of its own binary. Go runs every linked
// package's initialisation at start, and the kernel maps 64 KiB around
// each page touched, so a Vigil process starts with most of its 18 MiB of
// text and read-only data mapped, of which an idle node runs a small part.
package footprint

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Settle unmaps the executable's read-only pages (text and read-only
// data) from this process. They are private file mappings never written
// to, so MADV_DONTNEED loses nothing: the page cache keeps them, and the
// few the process still runs map back in on first use (a minor fault,
// about a microsecond). Measured in docs/benchmarks.md: 7 MiB less PSS on
// a seed-shaped node.
//
// Start-up garbage (a large policy's syntax tree, netlink replies) is
// collected and returned only when there is much of it: a collection costs
// an idle process its own bookkeeping (about 0.7 MiB measured), more than
// a small start-up leaves behind.
func Settle() {
	if heapBytes() > collectAbove {
		for range 4 { // each cycle halves an idle goroutine's stack: 32 KiB to 2 KiB
			runtime.GC()
		}
		debug.FreeOSMemory()
	}
	dropExecutablePages()
}

// collectAbove is the heap (live and garbage) above which Settle collects:
// measured, a seed-shaped node starts with 1.7 MiB (collecting costs it
// 0.7 MiB) and 255 instances with 2.8 MiB (collecting saves 1.5 MiB).
const collectAbove = 2 << 20

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

func dropExecutablePages() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.ContainsAny(fields[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			continue
		}
		unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
	}
}
