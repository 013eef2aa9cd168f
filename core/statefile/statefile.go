// Package statefile reads and writes the agent's files in its state
// directory so that they survive a crash and cannot be redirected: the
// directory must belong to root (or the agent's user) and be writable by
// nobody else, files are never opened through a symbolic link, reads are
// bounded, and a replaced file is on disk (fsync of file and directory)
// before the call returns.
package statefile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrTooLarge is returned by Read for a file over its limit.
var ErrTooLarge = errors.New("file is larger than allowed")

// PrepareDir creates dir (0700) if it is missing and refuses one that
// another user could write to or that is not a directory: everything in it
// is trusted by a process running as root.
func PrepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return CheckDir(dir)
}

// CheckDir refuses dir unless it is a real directory (not a link), owned by
// root or by this process's user, and not writable by group or others.
func CheckDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: dir, Err: err}
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return fmt.Errorf("%s is a symbolic link; the state directory must be a real directory", dir)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("%s is not a directory", dir)
	case st.Uid != 0 && int(st.Uid) != os.Geteuid():
		return fmt.Errorf("%s belongs to uid %d; the state directory must belong to root (chown root %s)", dir, st.Uid, dir)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("%s is writable by group or others (mode %o); the state directory must not be (chmod go-w %s)", dir, st.Mode&0o7777, dir)
	}
	return nil
}

// Open opens path with flag, never following a symbolic link in its last
// element.
func Open(path string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, perm)
}

// Read returns the content of path, refusing a link or a file over max bytes.
func Read(path string, max int64) ([]byte, error) {
	f, err := Open(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: %w (%d bytes)", path, ErrTooLarge, max)
	}
	return b, nil
}

// WriteAtomic replaces path with b: a fresh temporary file (never a link)
// is written and synced, renamed over path, and the directory synced, so
// that after a crash path holds either the old content or b.
func WriteAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	f, err := Open(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes a rename or create in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ErrLocked is returned by Lock while another process holds the directory.
var ErrLocked = errors.New("another process holds the state directory")

// Lock takes the one exclusive lock of the state directory dir, without
// waiting: one agent per state directory, and no `vigil cleanup` while
// an agent runs there. The lock lives as long as the returned file (the
// kernel drops it when the holder dies, however it dies); it is not
// inherited by the agent's children.
func Lock(dir string) (*os.File, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrLocked)
		}
		return nil, &os.PathError{Op: "flock", Path: dir, Err: err}
	}
	return f, nil
}
