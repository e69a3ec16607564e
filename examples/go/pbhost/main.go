// Command pb-host is a go-plugin host (plugin.NewClient, gRPC only) for any plugin that serves
// Plugboard's own service, plugboard.v1.Plugin: a Rust plugin served by plugboard-pdk, a Python
// one served by sdk/python, or a Go one (examples/go/notes). It shows that such a plugin is an
// ordinary go-plugin plugin, and serves Plugboard's host API on go-plugin's broker, as
// Plugboard's host does, so that the plugin can call back (-no-host-api offers none).
//
//	pb-host [flags] PLUGIN [ARGS...]
//
// It starts the plugin, dispenses it, checks grpc.health.v1, offers the host API, calls Boot
// (with -id and -config) and Start, delivers each -event, makes each -call in order, asks the
// plugin's Health, calls Stop, and kills the client (GRPCController.Shutdown first). With
// -mtls it uses go-plugin's AutoMTLS (the connection and the broker's are TLS). Then it
// prints one JSON line with what happened, payloads as text:
//
//	{"protocol_version":1,"auto_mtls":false,"grpc_health":"SERVING","host_api_broker_id":1,
//	 "calls":[{"method":"echo","payload":"hi","ok":true,"result":"hi"},
//	          {"method":"nope","payload":"","ok":false,"code":"UNKNOWN_METHOD","error":"..."}],
//	 "health":{"status":"HEALTHY","message":"..."},
//	 "host_api":{"logs":[{"level":"INFO","message":"...","fields":{}}],"config_reads":1,
//	             "storage":{"count":"2"},"events":[{"topic":"t","payload":"p"}],
//	             "reported_health":[{"status":"DEGRADED","message":"..."}]},
//	 "exit_code":0,"graceful":true}
//
// A call's in-band error is reported in its entry, not as a failure of pb-host. Errors of
// pb-host itself (the plugin does not start, Boot or a gRPC call fails) go to stderr with exit
// status 1 (2 for bad usage).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"plugboard.example/plugboard"
	pb "plugboard.example/plugboard/v1"
)

// pairs is a repeatable NAME[=VALUE] flag.
type pairs [][2]string

func (p *pairs) String() string { return fmt.Sprint(*p) }

func (p *pairs) Set(s string) error {
	name, value := s, ""
	if i := strings.IndexByte(s, '='); i >= 0 {
		name, value = s[:i], s[i+1:]
	}
	if name == "" {
		return fmt.Errorf("%q has no name before =", s)
	}
	*p = append(*p, [2]string{name, value})
	return nil
}

type options struct {
	cookieKey, cookieValue string
	version                uint
	id, config             string
	noHostAPI, verbose     bool
	autoMTLS               bool
	calls, events          pairs
	timeout                time.Duration
	plugin                 string
	args                   []string
}

func main() {
	var o options
	flag.StringVar(&o.cookieKey, "cookie-key", plugboard.Handshake.MagicCookieKey, "the handshake's magic cookie key")
	flag.StringVar(&o.cookieValue, "cookie-value", plugboard.Handshake.MagicCookieValue, "the handshake's magic cookie value")
	flag.UintVar(&o.version, "version", plugboard.Handshake.ProtocolVersion, "the application protocol version to offer")
	flag.StringVar(&o.id, "id", "go-hosted", "the plugin id sent in Boot")
	flag.StringVar(&o.config, "config", "{}", "the configuration sent in Boot, and served by the host API's Config (JSON)")
	flag.BoolVar(&o.noHostAPI, "no-host-api", false, "offer no host API (Boot gets broker id 0)")
	flag.BoolVar(&o.autoMTLS, "mtls", false, "use go-plugin's AutoMTLS")
	flag.Var(&o.calls, "call", "METHOD[=PAYLOAD]: a call to make after Start (repeatable, in order)")
	flag.Var(&o.events, "event", "TOPIC[=PAYLOAD]: an event to deliver with OnEvent before the calls (repeatable)")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Second, "the deadline of each gRPC call")
	flag.BoolVar(&o.verbose, "v", false, "show go-plugin's and the plugin's logs on stderr")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags] PLUGIN [ARGS...]\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 || !json.Valid([]byte(o.config)) {
		flag.Usage()
		os.Exit(2)
	}
	o.plugin, o.args = flag.Arg(0), flag.Args()[1:]
	report, err := run(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pb-host: %v\n", err)
		os.Exit(1)
	}
	line, _ := json.Marshal(report)
	fmt.Println(string(line))
}

type callReport struct {
	Method  string `json:"method"`
	Payload string `json:"payload"`
	OK      bool   `json:"ok"`
	Result  string `json:"result,omitempty"`
	Code    string `json:"code,omitempty"`
	Error   string `json:"error,omitempty"`
}

type healthReport struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

type report struct {
	ProtocolVersion int           `json:"protocol_version"`
	AutoMTLS        bool          `json:"auto_mtls"`
	GRPCHealth      string        `json:"grpc_health"`
	HostAPIBrokerID uint32        `json:"host_api_broker_id"`
	Calls           []callReport  `json:"calls"`
	Health          healthReport  `json:"health"`
	HostAPI         hostAPIReport `json:"host_api"`
	ExitCode        int           `json:"exit_code"`
	Graceful        bool          `json:"graceful"`
}

func run(o options) (*report, error) {
	logger := hclog.New(&hclog.LoggerOptions{Name: "pb-host", Output: ioutil.Discard, Level: hclog.Error})
	if o.verbose {
		logger = hclog.New(&hclog.LoggerOptions{Name: "pb-host", Output: os.Stderr, Level: hclog.Debug})
	}
	cmd := exec.Command(o.plugin, o.args...)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  o.version,
			MagicCookieKey:   o.cookieKey,
			MagicCookieValue: o.cookieValue,
		},
		Plugins:          plugboard.PluginSet(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         o.autoMTLS,
		Logger:           logger,
		StartTimeout:     30 * time.Second,
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", o.plugin, err)
	}
	raw, err := rpc.Dispense(plugboard.PluginName)
	if err != nil {
		return nil, fmt.Errorf("dispensing %q from %s: %w", plugboard.PluginName, o.plugin, err)
	}
	p, ok := raw.(*plugboard.Client)
	if !ok {
		return nil, fmt.Errorf("%s dispensed a %T, not a *plugboard.Client", o.plugin, raw)
	}
	r := &report{ProtocolVersion: client.NegotiatedVersion(), AutoMTLS: o.autoMTLS, GRPCHealth: "SERVING", Calls: []callReport{}}
	// go-plugin's health check: service "plugin" over the connection.
	if err := rpc.Ping(); err != nil {
		return nil, fmt.Errorf("health check of %s: %w", o.plugin, err)
	}

	host := newHostAPI([]byte(o.config))
	if !o.noHostAPI {
		r.HostAPIBrokerID = plugboard.ServeHostAPI(p.Broker, host)
	}
	ctx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), o.timeout)
	}
	c, cancel := ctx()
	_, err = p.Boot(c, &pb.BootRequest{PluginId: o.id, ConfigJson: []byte(o.config), HostApiBrokerId: r.HostAPIBrokerID})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("Boot: %w", err)
	}
	c, cancel = ctx()
	_, err = p.Start(c, &pb.Empty{})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("Start: %w", err)
	}
	for _, e := range o.events {
		c, cancel = ctx()
		_, err = p.OnEvent(c, &pb.EventRequest{Topic: e[0], Payload: []byte(e[1]), Source: "pb-host"})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("OnEvent(%q): %w", e[0], err)
		}
	}
	for _, call := range o.calls {
		c, cancel = ctx()
		resp, err := p.Call(c, &pb.CallRequest{Method: call[0], Payload: []byte(call[1])})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("Call(%q): %w", call[0], err)
		}
		entry := callReport{Method: call[0], Payload: call[1]}
		switch out := resp.Outcome.(type) {
		case *pb.CallResponse_Error:
			entry.Code, entry.Error = out.Error.Code.String(), out.Error.Message
		case *pb.CallResponse_Payload:
			entry.OK, entry.Result = true, string(out.Payload)
		default:
			entry.OK = true
		}
		r.Calls = append(r.Calls, entry)
	}
	c, cancel = ctx()
	health, err := p.Health(c, &pb.Empty{})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("Health: %w", err)
	}
	r.Health = healthReport{Status: health.Status.String(), Message: health.Message}
	c, cancel = ctx()
	_, err = p.Stop(c, &pb.Empty{})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("Stop: %w", err)
	}

	// Kill asks GRPCController.Shutdown first and waits 2 s for the process to exit by itself
	// before it kills it; then the process has been waited for.
	client.Kill()
	if state := cmd.ProcessState; state != nil {
		r.ExitCode = state.ExitCode()
		r.Graceful = state.Exited() && state.ExitCode() == 0
	} else {
		r.ExitCode = -1
	}
	r.HostAPI = host.report()
	return r, nil
}

// hostAPI is Plugboard's host API served from memory: the configuration given, a key-value map
// for storage, and a record of logs, events and health reports.
type hostAPI struct {
	pb.UnimplementedHostApiServer
	config []byte

	mu      sync.Mutex
	logs    []logRecord
	reads   int
	storage map[string][]byte
	events  []eventRecord
	health  []healthReport
}

type logRecord struct {
	Level   string            `json:"level"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields"`
}

type eventRecord struct {
	Topic   string `json:"topic"`
	Payload string `json:"payload"`
}

type hostAPIReport struct {
	Logs           []logRecord       `json:"logs"`
	ConfigReads    int               `json:"config_reads"`
	Storage        map[string]string `json:"storage"`
	Events         []eventRecord     `json:"events"`
	ReportedHealth []healthReport    `json:"reported_health"`
}

func newHostAPI(config []byte) *hostAPI {
	return &hostAPI{config: config, storage: map[string][]byte{}}
}

func (h *hostAPI) report() hostAPIReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := hostAPIReport{
		Logs:           append([]logRecord{}, h.logs...),
		ConfigReads:    h.reads,
		Storage:        map[string]string{},
		Events:         append([]eventRecord{}, h.events...),
		ReportedHealth: append([]healthReport{}, h.health...),
	}
	for k, v := range h.storage {
		r.Storage[k] = string(v)
	}
	return r
}

func (h *hostAPI) Log(_ context.Context, req *pb.LogRequest) (*pb.Empty, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fields := req.Fields
	if fields == nil {
		fields = map[string]string{}
	}
	h.logs = append(h.logs, logRecord{Level: req.Level.String(), Message: req.Message, Fields: fields})
	return &pb.Empty{}, nil
}

func (h *hostAPI) Config(context.Context, *pb.Empty) (*pb.ConfigResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reads++
	return &pb.ConfigResponse{ConfigJson: h.config}, nil
}

func (h *hostAPI) StorageGet(_ context.Context, req *pb.StorageKey) (*pb.StorageValue, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.storage[req.Key]
	return &pb.StorageValue{Found: ok, Value: v}, nil
}

func (h *hostAPI) StoragePut(_ context.Context, req *pb.StoragePutRequest) (*pb.Empty, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.storage[req.Key] = append([]byte{}, req.Value...)
	return &pb.Empty{}, nil
}

func (h *hostAPI) StorageDelete(_ context.Context, req *pb.StorageKey) (*pb.StorageDeleteResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.storage[req.Key]
	delete(h.storage, req.Key)
	return &pb.StorageDeleteResponse{Deleted: ok}, nil
}

func (h *hostAPI) StorageList(_ context.Context, req *pb.StorageListRequest) (*pb.StorageListResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := []string{}
	for k := range h.storage {
		if strings.HasPrefix(k, req.Prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return &pb.StorageListResponse{Keys: keys}, nil
}

func (h *hostAPI) Publish(_ context.Context, req *pb.PublishRequest) (*pb.Empty, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, eventRecord{Topic: req.Topic, Payload: string(req.Payload)})
	return &pb.Empty{}, nil
}

func (h *hostAPI) ReportHealth(_ context.Context, req *pb.ReportHealthRequest) (*pb.Empty, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.health = append(h.health, healthReport{Status: req.Status.String(), Message: req.Message})
	return &pb.Empty{}, nil
}

func (h *hostAPI) CallPlugin(_ context.Context, req *pb.CallPluginRequest) (*pb.CallResponse, error) {
	return nil, status.Errorf(codes.NotFound, "pb-host runs one plugin only: there is no plugin %q to call", req.Plugin)
}

func (h *hostAPI) CallService(_ context.Context, req *pb.CallServiceRequest) (*pb.CallResponse, error) {
	return nil, status.Errorf(codes.NotFound, "pb-host runs one plugin only: there is no service %q", req.Service)
}
