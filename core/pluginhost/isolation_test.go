package pluginhost_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vigil-ha/vigil/sdk"
)

// rawCodec sends and receives messages as bytes already encoded: what a
// hostile process speaking the plugin protocol by hand would do.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// TestOnlyTheAgentCanCall: another process of the plugin's user that
// reaches a shared plugin process's socket cannot call it: it cannot
// reconfigure another block (here, make a failing check pass). Every call
// of a Vigil service must carry the key the agent gave the process at its
// start, on a pipe nothing else can read.
func TestOnlyTheAgentCanCall(t *testing.T) {
	needRoot(t)
	spec := sharedSpec("web", "tcheck", sdk.KindCheck, `{"mode":"fail"}`)
	spec.User = "nobody"
	p := launch(t, spec)
	addr := p.Addr()
	if addr == "" {
		t.Fatal("no plugin socket")
	}
	conn, err := grpc.NewClient("unix://"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "vigil-block", "check web", "vigil-plugin", "tcheck")
	req := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte(`{"mode":"ok"}`))
	var resp []byte
	if err := conn.Invoke(ctx, "/vigil.plugin.v1.Base/Configure", &req, &resp); err == nil {
		t.Error("a process other than the agent reconfigured a block")
	}
	if r, err := p.Check(context.Background(), 0); err != nil || r.Healthy {
		t.Errorf("the block's check after the attempt: %+v %v, want failing as configured", r, err)
	}
}

// TestHungBlockIsCancelledAlone: in a shared process, a check that hangs
// times out alone; the process, which still answers, is not killed, and
// the other blocks' calls go on without a restart.
func TestHungBlockIsCancelledAlone(t *testing.T) {
	hung := sharedSpec("hung", "tcheck", sdk.KindCheck, `{"mode":"hang"}`)
	hung.CallTimeout = 300 * time.Millisecond
	h := launch(t, hung)
	ok := launch(t, sharedSpec("ok", "tcheck", sdk.KindCheck, `{"mode":"ok"}`))
	pid := ok.Pid()
	if _, err := h.Check(context.Background(), 0); err == nil {
		t.Fatal("a hung check answered")
	}
	if r, err := ok.Check(context.Background(), 0); err != nil || !r.Healthy {
		t.Errorf("the other block after the hang: %+v %v", r, err)
	}
	if ok.Pid() != pid || ok.Starts() != 1 {
		t.Errorf("the shared process was restarted (pid %d, was %d; %d starts)", ok.Pid(), pid, ok.Starts())
	}
}
