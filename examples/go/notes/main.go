// Command notes-plugin is a Plugboard plugin written in Go with go-plugin: it serves Plugboard's
// own service (plugboard.v1.Plugin, proto/plugboard/v1) and calls the host back through the host
// API, which it dials in Boot through go-plugin's GRPCBroker. It keeps notes in the host's
// storage (the manifest asks for `permissions: { storage: true }`). Payloads are JSON.
//
//	add {"title":"t","text":"x"}  stores note/t, logs "note added", publishes notes.added
//	                              {"title":"t"}, and answers {"notes":N}
//	get "t"                       the note's text, or an error when there is none
//	list                          the titles, sorted: ["a","b"]
//	remove "t"                    whether there was one: true or false
//	config                        the configuration, read from the host now
//	degrade "why"                 reports DEGRADED health to the host (and in Health)
//	events                        the events received so far (the manifest's subscribes)
//
// Its own logs go to stderr as hclog JSON lines, which the host files in the plugin's log with
// their level. Run by hand, it explains that a host must start it and exits 1.
package main

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"sync"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"plugboard.example/plugboard"
	pb "plugboard.example/plugboard/v1"
)

// The storage key prefix of notes.
const prefix = "note/"

type event struct {
	Topic   string `json:"topic"`
	Payload string `json:"payload"`
	Source  string `json:"source"`
}

type notes struct {
	pb.UnimplementedPluginServer
	broker *plugin.GRPCBroker
	log    hclog.Logger

	mu        sync.Mutex
	host      pb.HostApiClient // nil until Boot, and without a host API
	conn      *grpc.ClientConn
	health    pb.HealthStatus
	healthMsg string
	events    []event
}

func (n *notes) Boot(ctx context.Context, req *pb.BootRequest) (*pb.BootResponse, error) {
	var config map[string]interface{}
	if len(req.ConfigJson) > 0 {
		if err := json.Unmarshal(req.ConfigJson, &config); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "the configuration is not a JSON object: %v", err)
		}
	}
	host, conn, err := plugboard.DialHost(n.broker, req.HostApiBrokerId)
	if err == plugboard.ErrNoHostAPI {
		n.log.Warn("running without the host API: calls that need it fail", "plugin", req.PluginId)
	} else if err != nil {
		return nil, status.Errorf(codes.Unavailable, "%v", err)
	}
	n.mu.Lock()
	n.host, n.conn = host, conn
	n.health, n.healthMsg = pb.HealthStatus_HEALTHY, "taking notes"
	n.mu.Unlock()
	n.log.Info("booting", "plugin", req.PluginId, "host_api_broker_id", req.HostApiBrokerId)
	if host != nil {
		owner, _ := config["owner"].(string)
		_, err := host.Log(ctx, &pb.LogRequest{
			Level:   pb.LogLevel_INFO,
			Message: "notes booted through the host API",
			Fields:  map[string]string{"owner": owner, "language": "go"},
		})
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "the host API's Log failed: %v", err)
		}
	}
	return &pb.BootResponse{}, nil
}

func (n *notes) Start(context.Context, *pb.Empty) (*pb.Empty, error) {
	return &pb.Empty{}, nil
}

func (n *notes) Stop(context.Context, *pb.Empty) (*pb.Empty, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn != nil {
		n.conn.Close()
		n.host, n.conn = nil, nil
	}
	n.log.Info("stopped")
	return &pb.Empty{}, nil
}

func (n *notes) OnEvent(_ context.Context, req *pb.EventRequest) (*pb.Empty, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, event{Topic: req.Topic, Payload: string(req.Payload), Source: req.Source})
	return &pb.Empty{}, nil
}

func (n *notes) Health(context.Context, *pb.Empty) (*pb.HealthResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return &pb.HealthResponse{Status: n.health, Message: n.healthMsg}, nil
}

func (n *notes) Call(ctx context.Context, req *pb.CallRequest) (*pb.CallResponse, error) {
	n.mu.Lock()
	host := n.host
	n.mu.Unlock()
	if req.Method == "events" {
		n.mu.Lock()
		defer n.mu.Unlock()
		return answer(append([]event{}, n.events...))
	}
	known := []string{"add", "get", "list", "remove", "config", "degrade", "events"}
	if !contains(known, req.Method) {
		return plugboard.Failure(pb.ErrorCode_UNKNOWN_METHOD, "no method %q; the notes plugin has %s", req.Method, strings.Join(known, ", ")), nil
	}
	if host == nil {
		return plugboard.Failure(pb.ErrorCode_FAILED, "%s needs the host API, which this host did not offer", req.Method), nil
	}
	switch req.Method {
	case "add":
		var note struct{ Title, Text string }
		if err := json.Unmarshal(req.Payload, &note); err != nil || note.Title == "" {
			return plugboard.Failure(pb.ErrorCode_INVALID_PAYLOAD, `add takes {"title":"...","text":"..."} with a title`), nil
		}
		if _, err := host.StoragePut(ctx, &pb.StoragePutRequest{Key: prefix + note.Title, Value: []byte(note.Text)}); err != nil {
			return hostFailure("StoragePut", err), nil
		}
		if _, err := host.Log(ctx, &pb.LogRequest{Level: pb.LogLevel_INFO, Message: "note added", Fields: map[string]string{"title": note.Title}}); err != nil {
			return hostFailure("Log", err), nil
		}
		event, _ := json.Marshal(map[string]string{"title": note.Title})
		if _, err := host.Publish(ctx, &pb.PublishRequest{Topic: "notes.added", Payload: event}); err != nil {
			return hostFailure("Publish", err), nil
		}
		list, err := host.StorageList(ctx, &pb.StorageListRequest{Prefix: prefix})
		if err != nil {
			return hostFailure("StorageList", err), nil
		}
		return answer(map[string]int{"notes": len(list.Keys)})
	case "get":
		var title string
		if err := json.Unmarshal(req.Payload, &title); err != nil {
			return plugboard.Failure(pb.ErrorCode_INVALID_PAYLOAD, `get takes a title as a JSON string, such as "shopping"`), nil
		}
		v, err := host.StorageGet(ctx, &pb.StorageKey{Key: prefix + title})
		if err != nil {
			return hostFailure("StorageGet", err), nil
		}
		if !v.Found {
			return plugboard.Failure(pb.ErrorCode_FAILED, "no note titled %q; list shows the titles", title), nil
		}
		return answer(string(v.Value))
	case "list":
		list, err := host.StorageList(ctx, &pb.StorageListRequest{Prefix: prefix})
		if err != nil {
			return hostFailure("StorageList", err), nil
		}
		titles := []string{}
		for _, k := range list.Keys {
			titles = append(titles, strings.TrimPrefix(k, prefix))
		}
		sort.Strings(titles)
		return answer(titles)
	case "remove":
		var title string
		if err := json.Unmarshal(req.Payload, &title); err != nil {
			return plugboard.Failure(pb.ErrorCode_INVALID_PAYLOAD, `remove takes a title as a JSON string`), nil
		}
		d, err := host.StorageDelete(ctx, &pb.StorageKey{Key: prefix + title})
		if err != nil {
			return hostFailure("StorageDelete", err), nil
		}
		return answer(d.Deleted)
	case "config":
		c, err := host.Config(ctx, &pb.Empty{})
		if err != nil {
			return hostFailure("Config", err), nil
		}
		return plugboard.Payload(c.ConfigJson), nil
	default: // degrade
		var why string
		if err := json.Unmarshal(req.Payload, &why); err != nil {
			why = string(req.Payload)
		}
		if _, err := host.ReportHealth(ctx, &pb.ReportHealthRequest{Status: pb.HealthStatus_DEGRADED, Message: why}); err != nil {
			return hostFailure("ReportHealth", err), nil
		}
		n.mu.Lock()
		n.health, n.healthMsg = pb.HealthStatus_DEGRADED, why
		n.mu.Unlock()
		return answer(true)
	}
}

func answer(v interface{}) (*pb.CallResponse, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "cannot encode the answer: %v", err)
	}
	return plugboard.Payload(b), nil
}

// hostFailure turns a host-API error into the call's error: a permission the manifest lacks
// stays DENIED, with the host's message (which names the fix).
func hostFailure(what string, err error) *pb.CallResponse {
	code := pb.ErrorCode_FAILED
	if status.Code(err) == codes.PermissionDenied {
		code = pb.ErrorCode_DENIED
	}
	return plugboard.Failure(code, "host API %s: %s", what, status.Convert(err).Message())
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func main() {
	// hclog's JSON lines on stderr: the host parses them into structured log records. Made
	// before Serve, which replaces os.Stderr with a pipe of its own.
	log := hclog.New(&hclog.LoggerOptions{
		Name:       "notes",
		Level:      hclog.Info,
		Output:     os.Stderr,
		JSONFormat: true,
	})
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugboard.Handshake,
		Plugins: plugboard.PluginSet(func(broker *plugin.GRPCBroker) pb.PluginServer {
			return &notes{broker: broker, log: log}
		}),
		GRPCServer: plugin.DefaultGRPCServer,
		Logger:     log,
	})
}
