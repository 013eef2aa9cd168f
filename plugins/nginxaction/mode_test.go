package nginxaction

import (
	"context"
	"testing"
)

// TestRestartMode: under systemd nginx-action restarts the unit (the
// seed's policy names both unit and start, so it runs on nodes with and
// without systemd), unless the policy names only a start command (nginx
// run by other means, as in the demo's namespaces); without systemd it
// always runs start.
func TestRestartMode(t *testing.T) {
	defer func(old func() bool) { systemdRuns = old }(systemdRuns)
	for _, tc := range []struct {
		name    string
		systemd bool
		cfg     map[string]any
		unit    bool
	}{
		{"systemd, defaults", true, map[string]any{}, true},
		{"systemd, unit and start (the seed)", true, map[string]any{"unit": "nginx.service", "start": []any{"/bin/true"}}, true},
		{"systemd, start only (the demo)", true, map[string]any{"start": []any{"/bin/true"}}, false},
		{"no systemd, unit and start", false, map[string]any{"unit": "nginx.service", "start": []any{"/bin/true"}}, false},
		{"no systemd, defaults", false, map[string]any{"start": []any{"/bin/true"}}, false},
	} {
		systemdRuns = func() bool { return tc.systemd }
		a := &Action{}
		if err := a.Configure(context.Background(), tc.cfg); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if a.useUnit != tc.unit {
			t.Errorf("%s: restarts the unit %v, want %v", tc.name, a.useUnit, tc.unit)
		}
	}
	systemdRuns = func() bool { return false }
	if err := (&Action{}).Configure(context.Background(), map[string]any{"unit": "../etc/passwd"}); err == nil {
		t.Error("a unit name that is not a service was taken")
	}
}
