package lab

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ProcStat is /proc/PID/stat split into fields after the command name (which
// may hold spaces): [0] is the state, [1] the parent pid, [11] and [12] user
// and system ticks. nil when the process is gone.
func ProcStat(pid string) []string {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return nil
	}
	return strings.Fields(s[i+2:])
}

// ThreadCPU is the CPU time each thread of pid has used so far, in
// nanoseconds (/proc/PID/task/TID/schedstat): exact, where /proc/PID/stat
// counts in 10 ms ticks.
func ThreadCPU(pid string) map[string]int64 {
	tasks, _ := os.ReadDir(filepath.Join("/proc", pid, "task"))
	out := map[string]int64{}
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc", pid, "task", t.Name(), "schedstat"))
		if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
			if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				out[pid+"/"+t.Name()] = ns
			}
		}
	}
	return out
}
