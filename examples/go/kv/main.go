// Command kv-plugin is a go-plugin plugin (gRPC flavour) serving the KV service of
// kv/proto/kv.proto from memory. go-plugin serves grpc.health.v1 (service "plugin"), the
// controller and the broker by itself, and AutoMTLS whenever the host sends
// PLUGIN_CLIENT_CERT. Run by hand, it explains that a host must start it and exits 1.
package main

import (
	"os"
	"sync"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"plugboard.example/kv/shared"
)

type store struct {
	mu     sync.RWMutex
	values map[string][]byte
	log    hclog.Logger
}

func (s *store) Get(key string) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.values[key]
	return v, ok, nil
}

func (s *store) Put(key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[key] = value
	s.log.Debug("put", "key", key, "bytes", len(value))
	return nil
}

func main() {
	// hclog's JSON lines on stderr: the host parses them into structured log records.
	log := hclog.New(&hclog.LoggerOptions{
		Name:       "kv",
		Level:      hclog.Info,
		Output:     os.Stderr,
		JSONFormat: true,
	})
	if os.Getenv("KV_PLUGIN_DEBUG") != "" {
		log.SetLevel(hclog.Debug)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: shared.Handshake,
		Plugins:         shared.PluginSet(&store{values: map[string][]byte{}, log: log}),
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          log,
	})
}
