// Package shared is what the KV plugin and any go-plugin host of it agree on: the handshake,
// the plugin set, and the glue between the KV interface and its gRPC service.
package shared

import (
	"context"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"plugboard.example/kv/proto"
)

// Handshake is the go-plugin handshake of the KV plugin. The cookie is not a security measure
// (go-plugin says so): it only stops someone from running the plugin binary by hand by mistake.
// plugin.yaml repeats these values under process.handshake.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "PLUGBOARD_KV_PLUGIN",
	MagicCookieValue: "b7e5d3a1-kv",
}

// PluginName is the name under which the KV plugin is dispensed.
const PluginName = "kv"

// KV is the interface a plugin implements and a host calls.
type KV interface {
	// Get returns the value under key and whether there was one.
	Get(key string) ([]byte, bool, error)
	// Put stores value under key.
	Put(key string, value []byte) error
}

// KVPlugin is the go-plugin GRPCPlugin for KV. Impl is set on the plugin side only.
type KVPlugin struct {
	plugin.Plugin
	Impl KV
}

// PluginSet is the set a plugin serves and a host dispenses from.
func PluginSet(impl KV) plugin.PluginSet {
	return plugin.PluginSet{PluginName: &KVPlugin{Impl: impl}}
}

// GRPCServer registers the KV service on the plugin's gRPC server.
func (p *KVPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	proto.RegisterKVServer(s, &server{impl: p.Impl})
	return nil
}

// GRPCClient wraps the host's connection to the plugin in the KV interface.
func (p *KVPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &Client{client: proto.NewKVClient(c)}, nil
}

// Client is the host's KV over gRPC.
type Client struct {
	client proto.KVClient
}

// Get calls KV/Get.
func (c *Client) Get(key string) ([]byte, bool, error) {
	resp, err := c.client.Get(context.Background(), &proto.GetRequest{Key: key})
	if err != nil {
		return nil, false, err
	}
	return resp.Value, resp.Found, nil
}

// Put calls KV/Put.
func (c *Client) Put(key string, value []byte) error {
	_, err := c.client.Put(context.Background(), &proto.PutRequest{Key: key, Value: value})
	return err
}

type server struct {
	impl KV
}

func (s *server) Get(_ context.Context, req *proto.GetRequest) (*proto.GetResponse, error) {
	v, found, err := s.impl.Get(req.Key)
	if err != nil {
		return nil, err
	}
	return &proto.GetResponse{Value: v, Found: found}, nil
}

func (s *server) Put(_ context.Context, req *proto.PutRequest) (*proto.PutResponse, error) {
	return &proto.PutResponse{}, s.impl.Put(req.Key, req.Value)
}
