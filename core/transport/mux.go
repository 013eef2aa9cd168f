package transport

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

// Handler receives packets for one VRID. Data is the handler's own copy.
type Handler func(Packet)

// Mux shares one Conn among every instance on an interface and family and
// hands each packet to the instance with its VRID.
type Mux struct {
	conn     *Conn
	mu       sync.RWMutex
	handlers map[uint8]Handler
	refs     int
	done     chan struct{}
	// Unclaimed counts packets for a VRID nobody here runs.
	Unclaimed atomic.Uint64
}

func newMux(c *Conn) *Mux {
	m := &Mux{conn: c, handlers: map[uint8]Handler{}, done: make(chan struct{})}
	go m.run()
	return m
}

func (m *Mux) run() {
	defer close(m.done)
	buf := make([]byte, 65535)
	for {
		p, err := m.conn.Read(buf)
		if err != nil {
			return // closed
		}
		if len(p.Data) < 2 || p.Src == m.conn.src {
			continue
		}
		m.mu.RLock()
		h := m.handlers[p.Data[1]]
		m.mu.RUnlock()
		if h == nil {
			m.Unclaimed.Add(1)
			continue
		}
		p.Data = append([]byte(nil), p.Data...)
		h(p)
	}
}

// Register routes packets for vrid to h.
func (m *Mux) Register(vrid uint8, h Handler) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.handlers[vrid]; dup {
		return fmt.Errorf("VRID %d is already in use on %s", vrid, m.conn.ifi.Name)
	}
	m.handlers[vrid] = h
	if err := m.accept(); err != nil {
		delete(m.handlers, vrid)
		return fmt.Errorf("VRID %d on %s: receive filter: %w", vrid, m.conn.ifi.Name, err)
	}
	return nil
}

// accept filters the socket to the registered VRIDs; m.mu is held.
func (m *Mux) accept() error {
	vrids := make([]uint8, 0, len(m.handlers))
	for id := range m.handlers {
		vrids = append(vrids, id)
	}
	slices.Sort(vrids)
	return m.conn.Accept(vrids)
}

// Unregister stops routing vrid.
func (m *Mux) Unregister(vrid uint8) {
	m.mu.Lock()
	delete(m.handlers, vrid)
	m.accept() // narrowing; a failure leaves a wider filter, which the checks after it cover
	m.mu.Unlock()
}

// Join has the socket receive a multicast group too.
func (m *Mux) Join(group netip.Addr) error { return m.conn.Join(group) }

// Send writes an advert to dst.
func (m *Mux) Send(msg []byte, dst netip.Addr) error { return m.conn.Send(msg, dst) }

// SendFrom writes an advert to dst from src (Conn.SendFrom).
func (m *Mux) SendFrom(msg []byte, src, dst netip.Addr) error { return m.conn.SendFrom(msg, src, dst) }

// Source is the address adverts are sent from.
func (m *Mux) Source() netip.Addr { return m.conn.src }

// Pool opens one Mux per interface and family on first use and closes it
// when its last user releases it.
type Pool struct {
	mu   sync.Mutex
	muxs map[string]*Mux
}

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{muxs: map[string]*Mux{}} }

func key(ifname string, v6 bool) string { return fmt.Sprintf("%s/%v", ifname, v6) }

// Acquire returns the Mux of ifname and family, opening it if needed. src is
// passed to Listen when the socket is opened.
func (p *Pool) Acquire(ifname string, v6 bool, src netip.Addr) (*Mux, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := key(ifname, v6)
	if m, ok := p.muxs[k]; ok {
		m.refs++
		return m, nil
	}
	c, err := Listen(ifname, v6, src)
	if err != nil {
		return nil, err
	}
	m := newMux(c)
	m.refs = 1
	p.muxs[k] = m
	return m, nil
}

// Release gives back a Mux from Acquire; the last release closes it.
func (p *Pool) Release(m *Mux) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(p.muxs, key(m.conn.ifi.Name, m.conn.v6))
	m.conn.Close()
	<-m.done
}
