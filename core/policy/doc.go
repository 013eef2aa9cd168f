// Package policy reads Vigil's HCL site policies: it decodes and validates a
// file (every problem reported with file:line:col), resolves the part one
// node runs into a config.Config for the engine, and plans who owns each
// address.
package policy
