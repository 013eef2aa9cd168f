// Package kaimport reads keepalived configuration files and writes the
// Vigil policy that does the same: one file becomes a per-node policy in
// keepalived's shape; one file per node becomes a site policy with the
// nodes' priorities side by side. What has no Vigil equivalent is reported,
// never dropped silently.
package kaimport

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"unicode/utf8"
)

// maxConfBytes bounds one configuration file (keepalived's are kilobytes).
const maxConfBytes = 4 << 20

// maxNesting bounds how deep blocks nest (keepalived's go three deep).
const maxNesting = 32

// Stmt is one keepalived statement: a keyword, its arguments, and the
// block that follows it, if any.
type Stmt struct {
	Key   string
	Args  []string
	Block []*Stmt
	File  string
	Line  int
}

func (s *Stmt) String() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// Arg is argument i, or "".
func (s *Stmt) Arg(i int) string {
	if i < len(s.Args) {
		return s.Args[i]
	}
	return ""
}

// Parse reads a keepalived configuration file, following include
// directives (globs relative to the including file).
func Parse(path string) ([]*Stmt, error) {
	return (&includes{}).parseFile(path, 0)
}

// maxIncludes bounds the files one import reads: a file that includes
// itself, or a glob that matches it, would otherwise grow the work as the
// number of include lines to the power of the depth.
const maxIncludes = 256

// includes is what a parse has opened so far.
type includes struct {
	stack []string // the files being parsed, outermost first
	files int
}

func (in *includes) parseFile(path string, depth int) ([]*Stmt, error) {
	if depth > 8 {
		return nil, fmt.Errorf("%s: includes nested too deep", path)
	}
	abs, _ := filepath.Abs(path)
	if slices.Contains(in.stack, abs) {
		return nil, fmt.Errorf("%s: included from itself (through %s)", path, strings.Join(in.stack, " -> "))
	}
	if in.files++; in.files > maxIncludes {
		return nil, fmt.Errorf("%s: more than %d files included; a keepalived configuration is not that many", path, maxIncludes)
	}
	in.stack = append(in.stack, abs)
	defer func() { in.stack = in.stack[:len(in.stack)-1] }()
	src, err := readRegular(path, maxConfBytes)
	if err != nil {
		return nil, err
	}
	if len(src) > maxConfBytes {
		return nil, fmt.Errorf("%s: %d bytes; a keepalived configuration this large is not one (at most %d)", path, len(src), maxConfBytes)
	}
	if !utf8.Valid(src) || bytes.IndexByte(src, 0) >= 0 {
		return nil, fmt.Errorf("%s: not a keepalived configuration (binary data)", path)
	}
	type tok struct {
		text string
		line int
	}
	var toks []tok
	for i, line := range strings.Split(string(src), "\n") {
		for _, w := range words(line) {
			toks = append(toks, tok{w, i + 1})
		}
		toks = append(toks, tok{"\n", i + 1})
	}
	pos := 0
	var block func(nesting int) ([]*Stmt, error)
	block = func(nesting int) ([]*Stmt, error) {
		inBlock := nesting > 0
		if nesting > maxNesting {
			return nil, fmt.Errorf("%s: blocks nested deeper than %d", path, maxNesting)
		}
		var out []*Stmt
		var cur *Stmt
		for pos < len(toks) {
			t := toks[pos]
			pos++
			switch t.text {
			case "\n":
				cur = nil
			case "{":
				if cur == nil {
					// A brace on its own line opens the block of the
					// statement on the line before.
					if len(out) == 0 {
						return nil, fmt.Errorf("%s:%d: '{' without a statement", path, t.line)
					}
					cur = out[len(out)-1]
				}
				b, err := block(nesting + 1)
				if err != nil {
					return nil, err
				}
				cur.Block = append(cur.Block, b...)
				cur = nil
			case "}":
				if !inBlock {
					return nil, fmt.Errorf("%s:%d: '}' without a block", path, t.line)
				}
				return out, nil
			default:
				if cur == nil {
					cur = &Stmt{Key: t.text, File: path, Line: t.line}
					if t.text == "include" {
						cur = nil
						if pos >= len(toks) || toks[pos].text == "\n" {
							return nil, fmt.Errorf("%s:%d: include names no file", path, t.line)
						}
						pattern := toks[pos].text
						pos++
						if !filepath.IsAbs(pattern) {
							pattern = filepath.Join(filepath.Dir(path), pattern)
						}
						files, _ := filepath.Glob(pattern)
						for _, f := range files {
							inc, err := in.parseFile(f, depth+1)
							if err != nil {
								return nil, err
							}
							out = append(out, inc...)
						}
						continue
					}
					out = append(out, cur)
				} else {
					cur.Args = append(cur.Args, t.text)
				}
			}
		}
		if inBlock {
			return nil, fmt.Errorf("%s: a block is not closed ('}' missing)", path)
		}
		return out, nil
	}
	return block(0)
}

// words splits a line into keepalived's tokens: comments start with # or
// !, braces are tokens of their own, double quotes group words.
func words(line string) []string {
	var out []string
	var b strings.Builder
	quoted := false
	flush := func() {
		if b.Len() > 0 {
			out = append(out, b.String())
			b.Reset()
		}
	}
	for _, r := range line {
		switch {
		case quoted && r == '"':
			quoted = false
			out = append(out, b.String())
			b.Reset()
		case quoted:
			b.WriteRune(r)
		case r == '"':
			flush()
			quoted = true
		case (r == '#' || r == '!') && b.Len() == 0:
			flush()
			return out
		case r == '{' || r == '}':
			flush()
			out = append(out, string(r))
		case r == ' ' || r == '\t' || r == '\r':
			flush()
		default:
			b.WriteRune(r)
		}
	}
	flush()
	return out
}

// readRegular reads a regular file of at most limit bytes (one more, to
// tell a file that is too long): a configuration or script path that names
// a device, a FIFO or /proc would otherwise hang or exhaust the import.
func readRegular(path string, limit int64) ([]byte, error) {
	// Non-blocking: opening a FIFO for reading waits for a writer, so an
	// include or a script path naming one would hang the import.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, limit+1))
}
