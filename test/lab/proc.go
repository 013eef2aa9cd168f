package lab

import (
	"os"
	"path/filepath"
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
