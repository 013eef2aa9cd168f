package policy

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

func errorAt(rng hcl.Range, summary, detail string, args ...any) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(detail, args...), Subject: rng.Ptr()}
}

func warnAt(rng hcl.Range, summary, detail string, args ...any) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: fmt.Sprintf(detail, args...), Subject: rng.Ptr()}
}

// attrRange is where attribute name's value stands in body, or fallback.
func attrRange(body any, name string, fallback hcl.Range) hcl.Range {
	if b, ok := body.(*hclsyntax.Body); ok {
		if a, ok := b.Attributes[name]; ok {
			return a.Expr.Range()
		}
	}
	return fallback
}

// elemRange is where element i of list attribute name stands.
func elemRange(body any, name string, i int, fallback hcl.Range) hcl.Range {
	if b, ok := body.(*hclsyntax.Body); ok {
		if a, ok := b.Attributes[name]; ok {
			if t, ok := a.Expr.(*hclsyntax.TupleConsExpr); ok && i < len(t.Exprs) {
				return t.Exprs[i].Range()
			}
			return a.Expr.Range()
		}
	}
	return fallback
}

// Suggest returns ` Did you mean "x"?` for the closest candidate, or "".
func Suggest(given string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.Distance(given, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

func sortDiags(d hcl.Diagnostics) {
	sort.SliceStable(d, func(i, j int) bool {
		a, b := d[i].Subject, d[j].Subject
		if a == nil || b == nil {
			return a == nil && b != nil
		}
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}

// MaxPrinted is how many diagnostics WriteDiagnostics prints before it
// only counts the rest: the first ones say what is wrong, and a file that
// is not a policy must not print megabytes.
const MaxPrinted = 50

// secretAttr finds the value of a password attribute on a source line, so
// that a diagnostic quoting the line never prints the secret.
var secretAttr = regexp.MustCompile(`(?i)\b(password|auth_pass|secret)(\s*=?\s*)("(?:[^"\\]|\\.)*"?|\S+)`)

// redact hides secrets in a source line.
func redact(line string) string {
	return secretAttr.ReplaceAllString(line, `$1$2"********"`)
}

// WriteDiagnostics prints diags as "file:line:col: severity: summary", the
// detail, and the source line with the range underlined (passwords
// masked); past MaxPrinted diagnostics it prints how many more there are.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) {
	for i, d := range diags {
		if i == MaxPrinted {
			errs, warns := 0, 0
			for _, d := range diags[i:] {
				if d.Severity == hcl.DiagError {
					errs++
				} else {
					warns++
				}
			}
			fmt.Fprintf(w, "... and %d more errors and %d more warnings (fix the first ones, then validate again)\n", errs, warns)
			return
		}
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		if d.Subject == nil {
			fmt.Fprintf(w, "%s: %s\n", sev, d.Summary)
		} else {
			s := d.Subject
			fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", s.Filename, s.Start.Line, s.Start.Column, sev, d.Summary)
			if f := files[s.Filename]; f != nil {
				lines := strings.Split(string(f.Bytes), "\n")
				if s.Start.Line-1 < len(lines) {
					line := redact(strings.ReplaceAll(lines[s.Start.Line-1], "\t", " "))
					width := 1
					if s.End.Line == s.Start.Line && s.End.Column > s.Start.Column {
						width = s.End.Column - s.Start.Column
					}
					line, col, width := window(line, max(s.Start.Column-1, 0), width)
					fmt.Fprintf(w, "  %4d | %s\n       | %s%s\n", s.Start.Line, line,
						strings.Repeat(" ", col), strings.Repeat("^", width))
				}
			}
		}
		if d.Detail != "" {
			for _, l := range strings.Split(d.Detail, "\n") {
				fmt.Fprintf(w, "  %s\n", l)
			}
		}
	}
}

// maxShown is how much of a source line a diagnostic quotes.
const maxShown = 120

// window cuts a long source line to maxShown bytes around the column
// (byte-based; an underline may be off by a few on multi-byte text).
func window(line string, col, width int) (string, int, int) {
	if len(line) <= maxShown {
		return line, col, width
	}
	start := max(min(col-maxShown/3, len(line)-maxShown), 0)
	end := min(start+maxShown, len(line))
	out := line[start:end]
	col -= start
	if start > 0 {
		out, col = "…"+out, col+1
	}
	if end < len(line) {
		out += "…"
	}
	return out, min(col, maxShown), max(min(width, maxShown-col), 1)
}

// Where is "file:line:col" of a range, for messages that point elsewhere.
func Where(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
