package policy

import (
	"fmt"
	"os"
	"reflect"

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
}

// Load parses, decodes and validates the policy at path. Diagnostics hold
// every error and warning found; the Site is nil when there are errors.
func Load(path string, opts Options) (*Site, map[string]*hcl.File, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read policy", Detail: err.Error()}}
	}
	return Parse(path, src, opts)
}

// Parse is Load for a policy already in memory; path names it in diagnostics.
func Parse(path string, src []byte, opts Options) (*Site, map[string]*hcl.File, hcl.Diagnostics) {
	p := hclparse.NewParser()
	f, diags := p.ParseHCL(src, path)
	if diags.HasErrors() {
		return nil, p.Files(), diags
	}
	var raw fileSchema
	diags = append(diags, gohcl.DecodeBody(f.Body, nil, &raw)...)
	applyDefaults(&raw)
	site, more := build(path, &raw, f.Body.(*hclsyntax.Body), opts)
	diags = append(diags, more...)
	sortDiags(diags)
	if diags.HasErrors() {
		return nil, p.Files(), diags
	}
	return site, p.Files(), diags
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
