package engine

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/vigil-ha/vigil/core/config"
	"github.com/vigil-ha/vigil/core/firewall"
	"github.com/vigil-ha/vigil/core/statefile"
)

// acceptModeEffect has the firewall drop packets to the VIPs of instances
// that do not accept (RFC 5798 Accept_Mode off), for the whole policy,
// before any of them can become master. A node whose instances all accept
// never touches nftables.
type acceptModeEffect struct {
	fw     Firewall
	drops  []netip.Addr // what the firewall drops now
	record string       // marks, in the state directory, that rules may exist
	log    hclog.Logger
}

// acceptModeRecord marks that this node may have accept mode rules.
const acceptModeRecord = "accept-mode"

func newAcceptModeEffect(fw Firewall, stateDir string, log hclog.Logger) *acceptModeEffect {
	e := &acceptModeEffect{fw: fw, log: log}
	if stateDir != "" {
		e.record = filepath.Join(stateDir, acceptModeRecord)
	}
	return e
}

func (*acceptModeEffect) Name() string              { return "accept mode" }
func (*acceptModeEffect) Claim([]Mastership) error  { return nil }
func (*acceptModeEffect) Assert(Mastership) error   { return nil }
func (*acceptModeEffect) Announce(Mastership) error { return nil }
func (*acceptModeEffect) Withdraw(Mastership) error { return nil }
func (*acceptModeEffect) Unclaim(Mastership)        {}

func (e *acceptModeEffect) Policy(cfg *config.Config) error {
	var drops []netip.Addr
	for _, in := range cfg.Instances {
		if in.Accept {
			continue
		}
		for _, v := range append(slices.Clone(in.VIPs), in.ExcludedVIPs...) {
			drops = append(drops, v.Prefix.Addr())
		}
	}
	slices.SortFunc(drops, func(a, b netip.Addr) int { return a.Compare(b) })
	drops = slices.Compact(drops)
	if slices.Equal(drops, e.drops) {
		return nil
	}
	// Recorded before the rules exist, forgotten once they are gone: the
	// next start removes the table only after a run that may have made it,
	// and never reaches nftables otherwise.
	if len(drops) > 0 && e.record != "" {
		if err := statefile.WriteAtomic(e.record, []byte(bootID()+"\n")); err != nil {
			return fmt.Errorf("record: %w", err)
		}
	}
	if err := e.fw.Drop(drops); err != nil {
		return err
	}
	e.drops = drops
	if len(drops) > 0 {
		e.log.Info("accept mode off: dropping packets to VIPs this node does not own", "vips", len(drops), "table", "inet "+firewall.Table)
		return nil
	}
	e.forget()
	e.log.Info("accept mode on for every instance: nftables table removed", "table", "inet "+firewall.Table)
	return nil
}

// Close removes the rules at a clean stop, if there are any.
func (e *acceptModeEffect) Close() error {
	if len(e.drops) == 0 {
		return nil
	}
	if err := e.fw.Close(); err != nil {
		return fmt.Errorf("cannot remove the rules of table inet %s: %w", firewall.Table, err)
	}
	e.forget()
	return nil
}

func (e *acceptModeEffect) forget() {
	if e.record == "" {
		return
	}
	if err := os.Remove(e.record); err != nil && !errors.Is(err, os.ErrNotExist) {
		e.log.Warn("cannot remove the accept mode record", "path", e.record, "error", err)
	}
}

// recoverAcceptMode removes a dead run's rules (the table is Vigil's),
// only if it recorded that it may have made them in this boot: nftables
// is never reached on a node that does not use it.
func recoverAcceptMode(stateDir string, _ *Scope, boot string, log hclog.Logger) error {
	rec := filepath.Join(stateDir, acceptModeRecord)
	if !fileExists(rec) {
		return nil
	}
	if b, _ := statefile.Read(rec, 256); strings.TrimSpace(string(b)) != boot {
		log.Info("ignoring an accept mode record from an earlier boot", "path", rec)
		return os.Remove(rec)
	}
	if err := firewall.Remove(); err != nil {
		// As before the port: a warning, and the record stays for the
		// next start or `vigil cleanup`.
		log.Warn("cannot remove a previous run's accept mode rules", "table", "inet "+firewall.Table, "error", err)
		return nil
	}
	log.Info("removed a previous run's accept mode rules", "table", "inet "+firewall.Table)
	return os.Remove(rec)
}
