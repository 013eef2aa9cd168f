package pluginhost_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// percentiles runs f n times and reports median and p99 in µs.
func percentiles(b *testing.B, f func()) {
	var d []time.Duration
	for b.Loop() {
		start := time.Now()
		f()
		d = append(d, time.Since(start))
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkCheckRoundTrip is one Check call to a running plugin process
// over go-plugin's gRPC: what every Vigil check costs per run.
func BenchmarkCheckRoundTrip(b *testing.B) {
	p := launchB(b)
	ctx := context.Background()
	percentiles(b, func() {
		if _, err := p.Check(ctx, time.Second); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkForkExecTrue is what keepalived does per vrrp_script run: fork
// and exec a program (here the cheapest one, /bin/true) and wait for it.
func BenchmarkForkExecTrue(b *testing.B) {
	percentiles(b, func() {
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkPluginRSS reports the resident memory one plugin process adds:
// the test plugin, a small sdk plugin like a third party's.
func BenchmarkPluginRSS(b *testing.B) {
	p := launchB(b)
	for b.Loop() {
		p.Check(context.Background(), time.Second)
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			b.ReportMetric(float64(kb)/1024, "RSS-MiB")
		}
	}
}
