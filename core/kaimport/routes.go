package kaimport

import (
	"net/netip"
	"strconv"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// routing is one line of virtual_routes or virtual_rules, as attribute
// names and values in the policy's words, in order.
type routing [][2]string

// readRoute reads a virtual_routes line: [src A] [to] DEST [via|gw A]
// [dev IF] [scope S] [table N] [metric N] [onlink], or blackhole,
// unreachable or prohibit DEST. ok is false (and a warning says why) for
// what the import cannot carry over.
func (c *converter) readRoute(s *Stmt) (r routing, ok bool) {
	ws := &lineWords{words: append([]string{s.Key}, s.Args...)}
	set := func(k, v string) { r = append(r, [2]string{k, v}) }
	for w, ok := ws.next(); ok; w, ok = ws.next() {
		next := func() string { v, _ := ws.next(); return v }
		switch w {
		case "src":
			set("src", next())
		case "to":
			set("to", next())
		case "via", "gw":
			set("via", next())
		case "dev":
			set("dev", next())
		case "scope":
			set("scope", next())
		case "table":
			set("table", next())
		case "metric", "preference", "priority":
			set("metric", next())
		case "onlink":
			set("onlink", "true")
		case "blackhole", "unreachable", "prohibit":
			set("type", w)
			set("to", next())
		case "no_track":
			c.warn(s, "virtual_routes %s: no_track is not imported: Vigil does not watch the route's interface", s.Key)
		default:
			if isDestination(w) {
				set("to", w)
				continue
			}
			c.warn(s, "virtual_routes line %q: %s is not imported, so neither is the route; write it as a route block", s.String(), w)
			return nil, false
		}
	}
	return r, true
}

// readRule reads a virtual_rules line: [from P|all] [to P] [not]
// [fwmark M[/K]] [iif IF] [oif IF] [priority|preference|pref N] table N.
func (c *converter) readRule(s *Stmt) (r routing, ok bool) {
	ws := &lineWords{words: append([]string{s.Key}, s.Args...)}
	set := func(k, v string) { r = append(r, [2]string{k, v}) }
	for w, ok := ws.next(); ok; w, ok = ws.next() {
		next := func() string { v, _ := ws.next(); return v }
		switch w {
		case "from", "to":
			if v := next(); v != "all" {
				set(w, v)
			}
		case "not":
			set("not", "true")
		case "fwmark", "iif", "oif":
			set(w, next())
		case "priority", "preference", "pref":
			set("priority", next())
		case "table", "lookup":
			t := next()
			if _, err := strconv.Atoi(t); err != nil {
				c.warn(s, "virtual_rules line %q: table %s is a name from rt_tables; not imported: write the rule with the table's number", s.String(), t)
				return nil, false
			}
			set("table", t)
		case "no_track":
			c.warn(s, "virtual_rules %s: no_track is not imported: Vigil does not watch the rule's interfaces", s.Key)
		default:
			c.warn(s, "virtual_rules line %q: %s is not imported, so neither is the rule; write it as a rule block", s.String(), w)
			return nil, false
		}
	}
	return r, true
}

// lineWords reads a line's words one after the other.
type lineWords struct {
	words []string
	i     int
}

func (l *lineWords) next() (string, bool) {
	if l.i >= len(l.words) {
		return "", false
	}
	l.i++
	return l.words[l.i-1], true
}

// isDestination reports whether w is a route's destination: a prefix, an
// address or default.
func isDestination(w string) bool {
	_, errP := netip.ParsePrefix(w)
	_, errA := netip.ParseAddr(w)
	return errP == nil || errA == nil || w == "default"
}

// numeric are the attributes written as numbers; bools as bools.
var numeric = map[string]bool{"table": true, "metric": true, "priority": true}

// emitRouting writes an instance's route and rule blocks.
func emitRouting(ib *hclwrite.Body, in *instance) { emitRoutes(ib, in.routes, in.rules) }

// emitRoutes writes route and rule blocks.
func emitRoutes(ib *hclwrite.Body, routes, rules []routing) {
	write := func(kind string, attrs [][2]string) {
		ib.AppendNewline()
		b := ib.AppendNewBlock(kind, nil).Body()
		for _, a := range attrs {
			switch {
			case a[1] == "true":
				b.SetAttributeValue(a[0], cty.True)
			case numeric[a[0]]:
				b.SetAttributeValue(a[0], intVal(a[1]))
			default:
				b.SetAttributeValue(a[0], cty.StringVal(a[1]))
			}
		}
	}
	for _, r := range routes {
		write("route", r)
	}
	for _, r := range rules {
		write("rule", r)
	}
}
