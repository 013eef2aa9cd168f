package caps

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRestricted(t *testing.T) {
	all := uint64(1)<<41 - 1
	unit := mask([]Cap{NetAdmin, NetRaw, SetUID, SetGID})
	for _, tc := range []struct {
		name string
		in   Sets
		want Sets
	}{
		{"the unit's ambient set", Sets{unit, unit, unit}, Sets{mask(Working), unit, 0}},
		{"only the working two", Sets{mask(Working), mask(Working), mask(Working)}, Sets{mask(Working), mask(Working), 0}},
		{"everything", Sets{all, all, all}, Sets{mask(Working), unit, 0}},
		{"nothing", Sets{}, Sets{}},
		{"raisable only, none effective", Sets{0, mask(Raisable), 0}, Sets{0, mask(Raisable), 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Restricted(tc.in); got != tc.want {
				t.Errorf("Restricted(%+v) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

// threadSets reads every thread's capability sets from /proc.
func threadSets() (map[string]map[string]string, error) {
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended
		}
		sets := map[string]string{}
		for _, l := range strings.Split(string(b), "\n") {
			for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapAmb"} {
				if v, ok := strings.CutPrefix(l, set+":"); ok {
					sets[set] = strings.TrimSpace(v)
				}
			}
		}
		out[filepath.Base(filepath.Dir(p))] = sets
	}
	return out, nil
}

// TestRestrictEveryThread runs this test binary as nobody with the
// unit's capabilities as ambient ones (setpriv), calls Restrict there,
// and reads every thread's sets, then a child's started from With.
func TestRestrictEveryThread(t *testing.T) {
	if os.Getenv("VIGIL_CAPS_CHILD") == "1" {
		restrictChild()
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: starting a process with ambient capabilities needs root")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("skipped: needs setpriv (util-linux)")
	}
	capList := "+net_admin,+net_raw,+setuid,+setgid"
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=-all,"+capList, "--ambient-caps=-all,"+capList, "--bounding-set=-all,"+capList,
		os.Args[0], "-test.run=^TestRestrictEveryThread$")
	cmd.Env = append(os.Environ(), "VIGIL_CAPS_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var got struct {
		Before, After map[string]map[string]string
		Child         map[string]string
		Err           string
	}
	i := strings.Index(string(out), "{")
	if i < 0 {
		t.Fatalf("child said:\n%s", out)
	}
	if err := json.NewDecoder(strings.NewReader(string(out[i:]))).Decode(&got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if got.Err == ErrCgo.Error() {
		t.Skip("skipped: this test binary is built with cgo (CGO_ENABLED=0 go test runs it)")
	}
	if got.Err != "" {
		t.Fatal(got.Err)
	}
	unit := fmt.Sprintf("%016x", mask([]Cap{NetAdmin, NetRaw, SetUID, SetGID}))
	working := fmt.Sprintf("%016x", mask(Working))
	if len(got.After) < 2 {
		t.Errorf("only %d threads: the test proves nothing about every thread", len(got.After))
	}
	for tid, s := range got.Before {
		if s["CapAmb"] != unit {
			t.Errorf("thread %s started with %v: setpriv did not give the unit's ambient set", tid, s)
		}
	}
	for tid, s := range got.After {
		want := map[string]string{"CapInh": "0000000000000000", "CapAmb": "0000000000000000", "CapEff": working, "CapPrm": unit}
		for k, v := range want {
			if s[k] != v {
				t.Errorf("thread %s after Restrict: %s %s, want %s", tid, k, s[k], v)
			}
		}
	}
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapAmb"} {
		if got.Child[k] != "0000000000000000" {
			t.Errorf("a child started from With has %s %s, want none", k, got.Child[k])
		}
	}
}

func restrictChild() {
	var res struct {
		Before, After map[string]map[string]string
		Child         map[string]string
		Err           string
	}
	// More threads than the runtime's first few.
	done := make(chan bool)
	for range 4 {
		go func() { <-done }()
	}
	res.Before, _ = threadSets()
	if err := Restrict(); err != nil {
		res.Err = err.Error()
	} else {
		res.After, _ = threadSets()
		var out []byte
		err := With([]Cap{SetUID, SetGID}, func() (err error) {
			out, err = exec.Command("grep", "^Cap", "/proc/self/status").Output()
			return err
		})
		res.Child = map[string]string{}
		for _, l := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok {
				res.Child[k] = strings.TrimSpace(v)
			}
		}
		if err != nil {
			res.Err = err.Error()
		}
	}
	close(done)
	json.NewEncoder(os.Stdout).Encode(res)
}
