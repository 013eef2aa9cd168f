package policy

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"reflect"

	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Options tune loading.
type Options struct {
	// Builtins maps each built-in plugin's name to its kind ("check",
	// "notifier", "action"). Plugins declared in plugin blocks are accepted
	// for any kind; a nil map accepts every name.
	Builtins map[string]string
	// UserExists reports whether a local user exists, so that a plugin user
	// that does not is refused at load, not when a check first runs. Nil
	// skips the check (validate on another machine than the node).
	UserExists func(name string) bool
	// GroupExists is UserExists for a plugin's group.
	GroupExists func(name string) bool
}

// A policy is input like any other: these bounds are checked before the
// parser sees it, so that no file can exhaust the stack or the memory of
// the agent reloading it.
const (
	// MaxPolicyBytes is far above any real site (the seed's is 3 KiB; a
	// node of 1,000 instances about 150 KiB).
	MaxPolicyBytes = 4 << 20
	// MaxNesting bounds brackets, braces and parentheses inside one
	// another; a policy needs fewer than ten.
	MaxNesting = 64
	// MaxListItems bounds one list or map: HCL's type unification is
	// quadratic in its length (100,000 VIPs took a minute to decode).
	// An advert carries at most 255 addresses.
	MaxListItems = 4096
)

// Load parses, decodes and validates the policy at path. Diagnostics hold
// every error and warning found; the Site is nil when there are errors.
func Load(path string, opts Options) (*Site, map[string]*hcl.File, hcl.Diagnostics) {
	src, err := readBounded(path)
	if err != nil {
		return nil, nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read policy", Detail: err.Error()}}
	}
	return Parse(path, src, opts)
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxPolicyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(src) > MaxPolicyBytes {
		return nil, fmt.Errorf("%s is larger than %d MiB; a policy is far smaller: is this the right file?", path, MaxPolicyBytes>>20)
	}
	return src, nil
}

// Parse is Load for a policy already in memory; path names it in diagnostics.
func Parse(path string, src []byte, opts Options) (*Site, map[string]*hcl.File, hcl.Diagnostics) {
	if d := precheck(path, src); d != nil {
		return nil, nil, hcl.Diagnostics{d}
	}
	p := hclparse.NewParser()
	f, diags := p.ParseHCL(src, path)
	if diags.HasErrors() {
		return nil, p.Files(), diags
	}
	if d := longLists(f.Body.(*hclsyntax.Body)); d != nil {
		return nil, p.Files(), hcl.Diagnostics{d}
	}
	var raw fileSchema
	diags = append(diags, gohcl.DecodeBody(f.Body, nil, &raw)...)
	applyDefaults(&raw)
	site, more := build(path, &raw, f.Body.(*hclsyntax.Body), opts)
	diags = append(diags, more...)
	if len(raw.Instances) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "No instances",
			Detail:  path + " has no instance block: an agent would run nothing. Add an instance (vigil-policy(5), docs/policy.md).",
			Subject: &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}})
	}
	sortDiags(diags)
	if diags.HasErrors() {
		return nil, p.Files(), diags
	}
	return site, p.Files(), diags
}

// precheck refuses what the HCL parser must not be given: a file too
// large, one that is not text (one error, not one per byte), or one nested
// deeper than MaxNesting (the parser recurses once per level).
func precheck(path string, src []byte) *hcl.Diagnostic {
	at := func(off int) *hcl.Range {
		line, col := 1+bytes.Count(src[:off], []byte{'\n'}), off-bytes.LastIndexByte(src[:off], '\n')
		pos := hcl.Pos{Line: line, Column: col, Byte: off}
		return &hcl.Range{Filename: path, Start: pos, End: pos}
	}
	switch {
	case len(src) > MaxPolicyBytes:
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Policy too large",
			Detail: fmt.Sprintf("The policy is %d bytes; at most %d MiB is read. Is this the right file?", len(src), MaxPolicyBytes>>20)}
	case bytes.IndexByte(src, 0) >= 0 || !utf8.Valid(src):
		off := bytes.IndexByte(src, 0)
		if off < 0 {
			off = invalidUTF8(src)
		}
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Policy is not text", Subject: at(off),
			Detail: "A policy is UTF-8 text in HCL; this file holds binary data here. Is this the right file?"}
	}
	if off := tooDeep(path, src); off >= 0 {
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Policy nested too deeply", Subject: at(off),
			Detail: fmt.Sprintf("Brackets, braces, parentheses, quotes and templates nest more than %d deep here; a policy needs a handful. Check for unclosed or runaway brackets.", MaxNesting)}
	}
	return nil
}

func invalidUTF8(src []byte) int {
	for off := 0; off < len(src); {
		r, n := utf8.DecodeRune(src[off:])
		if r == utf8.RuneError && n <= 1 {
			return off
		}
		off += n
	}
	return 0
}

// tooDeep returns the offset where nesting first exceeds MaxNesting, or
// -1. It counts on HCL's own lexer, which does not recurse: every token
// that opens something the parser descends into (brackets, braces,
// parentheses, quotes, heredocs and template sequences) against the one
// that closes it.
func tooDeep(path string, src []byte) int {
	depth := 0
	toks, _ := hclsyntax.LexConfig(src, path, hcl.InitialPos)
	for _, tok := range toks {
		switch tok.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen, hclsyntax.TokenOQuote,
			hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			depth++
			if depth > MaxNesting {
				return tok.Range.Start.Byte
			}
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenCQuote,
			hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			depth = max(depth-1, 0)
		}
	}
	return -1
}

// longLists finds the first list or map longer than MaxListItems.
func longLists(body *hclsyntax.Body) *hcl.Diagnostic {
	var found *hcl.Diagnostic
	hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		items := 0
		switch e := n.(type) {
		case *hclsyntax.TupleConsExpr:
			items = len(e.Exprs)
		case *hclsyntax.ObjectConsExpr:
			items = len(e.Items)
		}
		if items > MaxListItems && found == nil {
			rng := n.Range()
			rng.End = rng.Start
			found = &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "List too long", Subject: &rng,
				Detail: fmt.Sprintf("This list or map has %d items; at most %d are read. A VRRP advert carries at most 255 addresses: split the addresses over several instances.", items, MaxListItems)}
		}
		return nil
	})
	return found
}

// applyDefaults fills every absent attribute that has a default tag, walking
// blocks recursively. Defaults are HCL expressions, decoded like user input.
func applyDefaults(v any) {
	walkFields(reflect.ValueOf(v).Elem())
}

func walkFields(v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, sf := v.Field(i), t.Field(i)
		if !sf.IsExported() {
			continue
		}
		switch {
		case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Struct:
			if !f.IsNil() {
				walkFields(f.Elem())
			}
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
			for j := 0; j < f.Len(); j++ {
				walkFields(f.Index(j))
			}
		case f.Kind() == reflect.Pointer && f.IsNil():
			def, ok := sf.Tag.Lookup("default")
			if !ok {
				continue
			}
			expr, diags := hclsyntax.ParseExpression([]byte(def), "default", hcl.InitialPos)
			if diags.HasErrors() {
				panic(fmt.Sprintf("policy: bad default %q on %s: %s", def, sf.Name, diags.Error()))
			}
			p := reflect.New(f.Type().Elem())
			if diags := gohcl.DecodeExpression(expr, nil, p.Interface()); diags.HasErrors() {
				panic(fmt.Sprintf("policy: default %q does not fit %s: %s", def, sf.Name, diags.Error()))
			}
			f.Set(p)
		}
	}
}
