package policy

import (
	"fmt"
	"reflect"
	"strings"
)

// Reference renders docs/policy.md from the schema's struct tags, so the
// documentation cannot drift from what the decoder accepts. A test fails
// when the committed file differs (make docs rewrites it).
func Reference() string {
	var b strings.Builder
	b.WriteString("# Policy reference\n\n")
	b.WriteString("Generated from `core/policy/schema.go` by `make docs`; do not edit by hand.\n\n")
	b.WriteString("Durations are strings with a unit (\"1s\", \"100ms\"). Defaults follow keepalived's where it has one.\n")
	b.WriteString("A site policy has `node` blocks and priority maps (`priority = { lb01 = 100, lb02 = 80 }`);\n")
	b.WriteString("a per-node file in keepalived's shape has no `node` blocks and a plain `priority = 100`.\n")
	section(&b, "Top level", reflect.TypeOf(fileSchema{}), 2)
	return b.String()
}

func section(b *strings.Builder, title string, t reflect.Type, depth int) {
	fmt.Fprintf(b, "\n%s %s\n\n", strings.Repeat("#", depth), title)
	type row struct{ name, kind, def, doc string }
	var attrs, blocks []row
	var nested []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("hcl")
		name, kind, _ := strings.Cut(tag, ",")
		if name == "" {
			continue
		}
		switch kind {
		case "label":
			fmt.Fprintf(b, "Label: `%s`.\n\n", name)
		case "block":
			blocks = append(blocks, row{name: name, doc: f.Tag.Get("doc")})
			nested = append(nested, f)
		case "attr", "optional":
			def := "required"
			switch {
			case f.Tag.Get("default") != "":
				def = "`" + f.Tag.Get("default") + "`"
			case f.Tag.Get("inherit") != "":
				def = "the site's"
			case kind == "optional" && f.Tag.Get("required") == "":
				def = "unset"
			}
			kind := typeName(f.Type)
			if k := f.Tag.Get("type"); k != "" {
				kind = k
			}
			attrs = append(attrs, row{name: name, kind: kind, def: def, doc: f.Tag.Get("doc")})
		}
	}
	if len(attrs) > 0 {
		b.WriteString("| attribute | type | default | meaning |\n|---|---|---|---|\n")
		for _, r := range attrs {
			fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", r.name, r.kind, r.def, r.doc)
		}
		b.WriteString("\n")
	}
	if len(blocks) > 0 {
		b.WriteString("| block | meaning |\n|---|---|\n")
		for _, r := range blocks {
			fmt.Fprintf(b, "| `%s` | %s |\n", r.name, r.doc)
		}
	}
	for _, f := range nested {
		name, _, _ := strings.Cut(f.Tag.Get("hcl"), ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft == reflect.TypeOf(configBlock{}) {
			if depth == 2 {
				continue
			}
			fmt.Fprintf(b, "\n`%s { ... }` holds the plugin's own attributes; the plugin validates them and documents them.\n", name)
			continue
		}
		section(b, fmt.Sprintf("`%s`", name), ft, depth+1)
	}
}

func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Int:
		return "number"
	case reflect.Bool:
		return "bool"
	case reflect.String:
		return "string"
	case reflect.Interface:
		return "number or map"
	}
	return t.String()
}
