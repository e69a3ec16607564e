// Command kv-host is a go-plugin host (plugin.NewClient, gRPC only) for any plugin that serves
// the KV service of examples/go/kv/proto/kv.proto: the Go plugin in examples/go/kv, or a Rust
// plugin served by plugboard-pdk. It is the reference Plugboard's own host is measured against.
//
//	kv-host [flags] PLUGIN [ARGS...]
//
// Without -bench it stores -value under -key, reads it back, and prints one JSON line:
//
//	{"mode":"roundtrip","key":"greeting","value":"hello","found":true,"protocol_version":1,"auto_mtls":false}
//
// exiting 1 if the value read differs. With -bench N it starts the plugin -spawns times
// (spawn-to-ready: from starting the process until the plugin, dispensed, has answered a
// grpc.health.v1 check over the connection), then makes N unary Get calls on the last one
// (after 100 untimed), and prints one JSON line, times in microseconds:
//
//	{"mode":"bench","host":"go-plugin","plugin":"...","auto_mtls":false,"spawns":5,
//	 "spawn_to_ready_us_median":4100.2,"spawn_to_ready_us_p99":5200.9,
//	 "calls":2000,"call_us_median":120.5,"call_us_p99":300.1,"call_us_mean":130.2}
//
// Errors go to stderr with exit status 1 (2 for bad usage).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"math"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"plugboard.example/kv/shared"
)

type options struct {
	cookieKey, cookieValue string
	version                uint
	autoMTLS               bool
	key, value             string
	bench, spawns          int
	verbose                bool
	plugin                 string
	args                   []string
}

func main() {
	var o options
	flag.StringVar(&o.cookieKey, "cookie-key", shared.Handshake.MagicCookieKey, "the handshake's magic cookie key")
	flag.StringVar(&o.cookieValue, "cookie-value", shared.Handshake.MagicCookieValue, "the handshake's magic cookie value")
	flag.UintVar(&o.version, "version", shared.Handshake.ProtocolVersion, "the application protocol version to offer")
	flag.BoolVar(&o.autoMTLS, "mtls", false, "use go-plugin's AutoMTLS")
	flag.StringVar(&o.key, "key", "greeting", "round trip: the key to put and get")
	flag.StringVar(&o.value, "value", "hello", "round trip: the value to put")
	flag.IntVar(&o.bench, "bench", 0, "benchmark mode: the number of unary calls to time")
	flag.IntVar(&o.spawns, "spawns", 5, "benchmark mode: how many times to start the plugin")
	flag.BoolVar(&o.verbose, "v", false, "show go-plugin's and the plugin's logs on stderr")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags] PLUGIN [ARGS...]\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 || o.bench < 0 || o.spawns < 1 {
		flag.Usage()
		os.Exit(2)
	}
	o.plugin, o.args = flag.Arg(0), flag.Args()[1:]

	var err error
	if o.bench > 0 {
		err = benchmark(o)
	} else {
		err = roundTrip(o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kv-host: %v\n", err)
		os.Exit(1)
	}
}

// start launches the plugin and dispenses its KV; the caller kills the client.
func start(o options) (*plugin.Client, shared.KV, error) {
	logger := hclog.New(&hclog.LoggerOptions{Name: "kv-host", Output: ioutil.Discard, Level: hclog.Error})
	if o.verbose {
		logger = hclog.New(&hclog.LoggerOptions{Name: "kv-host", Output: os.Stderr, Level: hclog.Debug})
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  o.version,
			MagicCookieKey:   o.cookieKey,
			MagicCookieValue: o.cookieValue,
		},
		Plugins:          shared.PluginSet(nil),
		Cmd:              exec.Command(o.plugin, o.args...),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         o.autoMTLS,
		Logger:           logger,
		StartTimeout:     30 * time.Second,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("starting %s: %w", o.plugin, err)
	}
	raw, err := rpc.Dispense(shared.PluginName)
	if err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("dispensing %q from %s: %w", shared.PluginName, o.plugin, err)
	}
	kv, ok := raw.(shared.KV)
	if !ok {
		client.Kill()
		return nil, nil, fmt.Errorf("%s dispensed a %T, not a KV", o.plugin, raw)
	}
	// go-plugin dials lazily: the plugin is ready once it has answered a health check
	// (grpc.health.v1, service "plugin") over the connection.
	if err := rpc.Ping(); err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("health check of %s: %w", o.plugin, err)
	}
	return client, kv, nil
}

func roundTrip(o options) error {
	client, kv, err := start(o)
	if err != nil {
		return err
	}
	defer client.Kill()
	if err := kv.Put(o.key, []byte(o.value)); err != nil {
		return fmt.Errorf("Put(%q): %w", o.key, err)
	}
	got, found, err := kv.Get(o.key)
	if err != nil {
		return fmt.Errorf("Get(%q): %w", o.key, err)
	}
	line, _ := json.Marshal(map[string]interface{}{
		"mode":             "roundtrip",
		"key":              o.key,
		"value":            string(got),
		"found":            found,
		"protocol_version": client.NegotiatedVersion(),
		"auto_mtls":        o.autoMTLS,
	})
	fmt.Println(string(line))
	if !found || !bytes.Equal(got, []byte(o.value)) {
		return fmt.Errorf("Get(%q) returned %q (found %v), want %q", o.key, got, found, o.value)
	}
	return nil
}

func benchmark(o options) error {
	var spawns []time.Duration
	var client *plugin.Client
	var kv shared.KV
	for i := 0; i < o.spawns; i++ {
		if client != nil {
			client.Kill()
		}
		began := time.Now()
		c, k, err := start(o)
		if err != nil {
			return err
		}
		spawns = append(spawns, time.Since(began))
		client, kv = c, k
	}
	defer client.Kill()

	if err := kv.Put("bench", []byte("x")); err != nil {
		return fmt.Errorf("Put: %w", err)
	}
	for i := 0; i < 100 && i < o.bench; i++ { // warm up the connection
		if _, _, err := kv.Get("bench"); err != nil {
			return fmt.Errorf("Get: %w", err)
		}
	}
	calls := make([]time.Duration, 0, o.bench)
	for i := 0; i < o.bench; i++ {
		began := time.Now()
		if _, _, err := kv.Get("bench"); err != nil {
			return fmt.Errorf("Get: %w", err)
		}
		calls = append(calls, time.Since(began))
	}
	var sum time.Duration
	for _, c := range calls {
		sum += c
	}
	// Fixed key order, so that the line reads the same every run.
	fields := []string{
		kv2("mode", "bench"),
		kv2("host", "go-plugin"),
		kv2("plugin", o.plugin),
		`"auto_mtls":` + strconv.FormatBool(o.autoMTLS),
		`"spawns":` + strconv.Itoa(len(spawns)),
		`"spawn_to_ready_us_median":` + us(quantile(spawns, 0.5)),
		`"spawn_to_ready_us_p99":` + us(quantile(spawns, 0.99)),
		`"calls":` + strconv.Itoa(len(calls)),
		`"call_us_median":` + us(quantile(calls, 0.5)),
		`"call_us_p99":` + us(quantile(calls, 0.99)),
		`"call_us_mean":` + us(sum/time.Duration(len(calls))),
	}
	fmt.Println("{" + strings.Join(fields, ",") + "}")
	return nil
}

func kv2(k, v string) string {
	b, _ := json.Marshal(v)
	return `"` + k + `":` + string(b)
}

// quantile is the nearest-rank quantile q of ds (sorted in place).
func quantile(ds []time.Duration, q float64) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	rank := int(math.Ceil(q*float64(len(ds)))) - 1
	if rank < 0 {
		rank = 0
	}
	return ds[rank]
}

func us(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Nanoseconds())/1000, 'f', 1, 64)
}
