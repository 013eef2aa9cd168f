package statefile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	l1, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(dir); !errors.Is(err, ErrLocked) {
		t.Errorf("second lock: %v, want ErrLocked", err)
	}
	l1.Close()
	l2, err := Lock(dir)
	if err != nil {
		t.Fatalf("after the holder let go: %v", err)
	}
	l2.Close()
}

// The lock is not passed on to a child: a plugin that outlives a killed
// agent cannot keep the next agent out.
func TestLockNotInherited(t *testing.T) {
	dir := t.TempDir()
	l, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command("sleep", "5")
	if err := child.Start(); err != nil {
		t.Skip("no sleep:", err)
	}
	defer child.Process.Kill()
	l.Close()
	l2, err := Lock(dir)
	if err != nil {
		t.Fatalf("a child kept the lock: %v", err)
	}
	l2.Close()
}

func TestLockRefusesALink(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "state")
	os.Symlink(dir, link)
	if l, err := Lock(link); err == nil {
		l.Close()
		t.Error("locked through a symbolic link")
	}
}

func TestCheckDir(t *testing.T) {
	ok := t.TempDir()
	os.Chmod(ok, 0o700)
	open := t.TempDir()
	os.Chmod(open, 0o777)
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	link := filepath.Join(t.TempDir(), "l")
	os.Symlink(ok, link)
	for _, tc := range []struct {
		dir, want string
	}{
		{ok, ""},
		{open, "writable by group or others"},
		{file, "not a directory"},
		{link, "symbolic link"},
	} {
		err := CheckDir(tc.dir)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckDir(%s) = %v, want %q", tc.dir, err, tc.want)
		}
	}
}

func TestWriteAtomicNeverFollowsALink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("keep"), 0o600)
	path := filepath.Join(dir, "vips.json")
	// A link planted where the temporary file goes.
	os.Symlink(target, path+".tmp")
	if err := WriteAtomic(path, []byte("[]")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the link's target was written: %q", b)
	}
	if b, err := Read(path, 10); err != nil || string(b) != "[]" {
		t.Errorf("Read = %q, %v", b, err)
	}
	if _, err := Read(path, 1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Read over the limit: %v", err)
	}
}
