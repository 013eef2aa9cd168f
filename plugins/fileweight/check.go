// Package fileweight is the file-weight check, keepalived's track_file: a
// number read from a file moves the priority of the instances that track
// it (the number times the check's weight; with weight 0, anything but 0
// is a fault). The file is watched with inotify and re-read the moment it
// changes, so that `echo -100 > /run/vigil/drain` drains a node at once.
package fileweight

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/sdk"
)

var (
	_ sdk.Check   = (*Check)(nil)
	_ sdk.Watcher = (*Check)(nil)
)

// maxRead bounds what is read of the file: a number, not a log.
const maxRead = 64

// Check implements sdk.Check and sdk.Watcher.
type Check struct {
	cfg struct {
		// File holds the number; a file that is missing or holds no
		// number reads as 0, as in keepalived.
		File string `json:"file"`
		// Init, when set, is written to the file at start if it does not
		// exist (or always, with InitOverwrite): keepalived's init_file.
		Init          *int64 `json:"init"`
		InitOverwrite bool   `json:"init_overwrite"`
	}
}

// New returns an unconfigured check.
func New() sdk.Base { return &Check{} }

// Info names the plugin.
func (c *Check) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "file-weight", Kind: sdk.KindCheck, Version: "1"}, nil
}

// Configure reads file (an absolute path), init and init_overwrite.
func (c *Check) Configure(_ context.Context, m map[string]any) error {
	if err := sdk.DecodeConfig(m, &c.cfg); err != nil {
		return err
	}
	if !filepath.IsAbs(c.cfg.File) {
		return sdk.ConfigErrors{{Attribute: "file", Message: fmt.Sprintf("%q: give an absolute path, like \"/run/vigil/drain\"", c.cfg.File)}}
	}
	if c.cfg.InitOverwrite && c.cfg.Init == nil {
		return sdk.ConfigErrors{{Attribute: "init_overwrite", Message: "needs init, the value to write"}}
	}
	if c.cfg.Init != nil {
		flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		if c.cfg.InitOverwrite {
			flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		}
		f, err := os.OpenFile(c.cfg.File, flags|syscall.O_NOFOLLOW, 0o644)
		switch {
		case errors.Is(err, os.ErrExist):
		case err != nil:
			return sdk.ConfigErrors{{Attribute: "init", Message: fmt.Sprintf("cannot write %s: %v", c.cfg.File, err)}}
		default:
			_, err = fmt.Fprintf(f, "%d\n", *c.cfg.Init)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return sdk.ConfigErrors{{Attribute: "init", Message: fmt.Sprintf("cannot write %s: %v", c.cfg.File, err)}}
			}
		}
	}
	return nil
}

// Check reads the file once.
func (c *Check) Check(context.Context) (sdk.Result, error) {
	v, msg := read(c.cfg.File)
	return sdk.Result{Healthy: true, Message: msg, Value: &v}, nil
}

// read returns the file's number and what was read. Like keepalived, a
// missing file or text that is not a number reads as 0.
func read(path string) (int64, string) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Sprintf("%s unreadable (%v): 0", path, err)
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxRead))
	text := string(bytes.TrimSpace(b))
	if i := bytes.IndexAny([]byte(text), " \t\n"); i >= 0 {
		text = text[:i]
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, fmt.Sprintf("%s holds no number: 0", path)
	}
	return v, fmt.Sprintf("%s: %d", path, v)
}

// Watch pushes the file's number whenever a writer closes it, or it is
// moved in, moved away or removed. It watches the directory, so that a file
// replaced by a rename (as editors and `mv` do) is still followed; it
// reacts to the close of a write, not to the write itself, so that
// `echo -30 > drain` is read once, as -30, and not first as an empty file
// (0, which would restore the full priority for a moment).
func (c *Check) Watch(ctx context.Context, report func(sdk.Result)) error {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	f := os.NewFile(uintptr(fd), "inotify") // in the runtime's poller: Close ends a Read
	defer f.Close()
	dir, name := filepath.Split(filepath.Clean(c.cfg.File))
	push := func() {
		r, _ := c.Check(ctx)
		report(r)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO|unix.IN_MOVED_FROM|unix.IN_DELETE); err != nil {
		// A directory this user cannot watch (no search permission, no
		// inotify watches left) is read every second instead: a lost
		// watch is no reason to fail the check. The agent logs stderr.
		fmt.Fprintf(os.Stderr, "cannot watch %s (%v): reading %s every second instead\n", dir, err, c.cfg.File)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			push()
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
	}
	go func() { <-ctx.Done(); f.Close() }()
	push() // what changed before the watch began
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := f.Read(buf)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("inotify: %w", err)
		}
		ours := false
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			end := off + unix.SizeofInotifyEvent + int(ev.Len)
			if end > n {
				break
			}
			evName := string(bytes.TrimRight(buf[off+unix.SizeofInotifyEvent:end], "\x00"))
			// An overflowed queue lost events, not the file: read it.
			ours = ours || evName == name || ev.Mask&unix.IN_Q_OVERFLOW != 0
			off = end
		}
		if ours {
			push()
		}
	}
}
