"""Serve a Plugboard process plugin from Python, over HashiCorp go-plugin's gRPC protocol.

    from plugboard_plugin import Plugin, serve

    class Greeter(Plugin):
        def call(self, host, method, payload):
            if method == "greet":
                return b"hello, " + payload
            raise self.unknown_method(method)

    serve(Greeter())

`serve` checks the magic cookie, listens on a Unix socket in PLUGIN_UNIX_SOCKET_DIR, serves
grpc.health.v1 (service "plugin" SERVING), plugin.GRPCController, plugin.GRPCBroker and
plugboard.v1.Plugin, prints the go-plugin handshake line, and returns when the host shuts the
plugin down. The host API (log, config, storage, events, calls to other plugins) is reached
through `host`, a `Host`, which dials the connection the host offers through the broker.

With go-plugin's AutoMTLS (the host sets PLUGIN_CLIENT_CERT; Plugboard's `process.auto_mtls`),
`serve` makes a key and self-signed certificate of its own, serves over TLS accepting exactly
the host's certificate, prints its certificate in the handshake line, and dials the host API
with TLS too. That needs the `cryptography` package (`pip install plugboard-plugin[mtls]`).
"""

import base64
import os
import sys
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

# The generated modules import each other by their proto package paths.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_gen"))

from plugboard.v1 import host_api_pb2, host_api_pb2_grpc  # noqa: E402
from plugboard.v1 import plugin_pb2, plugin_pb2_grpc  # noqa: E402
from plugin import grpc_broker_pb2, grpc_broker_pb2_grpc  # noqa: E402
from plugin import grpc_controller_pb2, grpc_controller_pb2_grpc  # noqa: E402

__all__ = ["Plugin", "PluginError", "Host", "serve", "DEFAULT_COOKIE_KEY", "DEFAULT_COOKIE_VALUE"]

#: The magic cookie Plugboard's host sends when the manifest names none.
DEFAULT_COOKIE_KEY = "PLUGBOARD_PLUGIN"
DEFAULT_COOKIE_VALUE = "d3b2c1a0-plugboard"

_CODES = {
    "failed": plugin_pb2.FAILED,
    "unknown_method": plugin_pb2.UNKNOWN_METHOD,
    "invalid_payload": plugin_pb2.INVALID_PAYLOAD,
    "denied": plugin_pb2.DENIED,
}


class PluginError(Exception):
    """A call's failure: `message` reaches the operator; `code` is one of failed,
    unknown_method, invalid_payload, denied."""

    def __init__(self, message, code="failed"):
        super().__init__(message)
        self.message = message
        self.code = code


class Plugin:
    """Subclass it and override `call` (and, if needed, the hooks). Methods may run
    concurrently, on the server's threads."""

    def boot(self, host, config):
        """Runs first, with the effective configuration (a dict). Return a dict to adjust it."""
        return None

    def start(self, host):
        """Starts the plugin's work."""

    def stop(self, host):
        """Releases what the plugin holds; the process exits soon after."""

    def call(self, host, method, payload):
        """Answers a call: `payload` is bytes (JSON by default); return bytes."""
        raise self.unknown_method(method)

    def on_event(self, host, topic, payload):
        """An event on a topic the manifest subscribes to."""

    def health(self):
        """Returns ("healthy" | "degraded" | "unhealthy", message), or None."""
        return None

    @staticmethod
    def unknown_method(method):
        return PluginError("no method %r" % method, "unknown_method")


class Host:
    """The host API, through the connection the host offers on the broker."""

    def __init__(self, broker, credentials=None):
        self._broker = broker
        self._credentials = credentials  # grpc.ChannelCredentials with AutoMTLS, else None
        self._stub = None
        self._lock = threading.Lock()
        self.broker_id = 0

    def _api(self):
        with self._lock:
            if self._stub is None:
                if not self.broker_id:
                    raise PluginError("the host offered no host API (is it Plugboard?)")
                info = self._broker.wait_for(self.broker_id, 5.0)
                if info is None:
                    raise PluginError("the host did not offer broker connection %d" % self.broker_id)
                target = ("unix:" + info.address) if info.network == "unix" else info.address
                # gRPC's default authority for a Unix socket is the escaped path, which HTTP/2
                # servers other than gRPC's own (Plugboard's) refuse.
                options = [("grpc.default_authority", "localhost")]
                if self._credentials is None:
                    channel = grpc.insecure_channel(target, options=options)
                else:
                    # AutoMTLS: the host's certificate is for localhost, whatever the address.
                    options.append(("grpc.ssl_target_name_override", "localhost"))
                    channel = grpc.secure_channel(target, self._credentials, options=options)
                self._stub = host_api_pb2_grpc.HostApiStub(channel)
            return self._stub

    def log(self, level, message, **fields):
        levels = {"trace": 0, "debug": 1, "info": 2, "warn": 3, "error": 4}
        self._api().Log(host_api_pb2.LogRequest(
            level=levels.get(level, 2), message=message,
            fields={k: str(v) for k, v in fields.items()}))

    def config(self):
        import json
        return json.loads(self._api().Config(plugin_pb2.Empty()).config_json or b"null")

    def storage_get(self, key):
        r = self._api().StorageGet(host_api_pb2.StorageKey(key=key))
        return r.value if r.found else None

    def storage_put(self, key, value):
        self._api().StoragePut(host_api_pb2.StoragePutRequest(key=key, value=value))

    def storage_delete(self, key):
        return self._api().StorageDelete(host_api_pb2.StorageKey(key=key)).deleted

    def storage_list(self, prefix=""):
        return list(self._api().StorageList(host_api_pb2.StorageListRequest(prefix=prefix)).keys)

    def publish(self, topic, payload):
        self._api().Publish(host_api_pb2.PublishRequest(topic=topic, payload=payload))

    def call_plugin(self, plugin, method, payload):
        r = self._api().CallPlugin(host_api_pb2.CallPluginRequest(
            plugin=plugin, method=method, payload=payload))
        if r.WhichOneof("outcome") == "error":
            raise PluginError(r.error.message)
        return r.payload


class _Mtls:
    """go-plugin's AutoMTLS, plugin side, for the host's certificate `host_pem` (bytes, from
    PLUGIN_CLIENT_CERT): a fresh ECDSA P-256 key and a self-signed certificate for localhost,
    valid from 30 seconds ago (clock skew) for 30 days, and the gRPC credentials made of them.
    The host's certificate is the only root both ways, so only it is accepted."""

    def __init__(self, host_pem):
        # Imported here: plugins without AutoMTLS need no cryptography package.
        import datetime
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        self.host_der = _pem_to_der(host_pem)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Plugboard")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(name).issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(seconds=30))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), False)
                .sign(key, hashes.SHA256()))
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        #: The certificate, DER: base64 (unpadded) in the handshake line's sixth field.
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        #: Serving: present this certificate, require a client certificate from the host's root.
        self.server = grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=host_pem,
                                                  require_client_auth=True)
        #: Dialing the host's broker connections: trust the host's certificate, present ours.
        self.client = grpc.ssl_channel_credentials(root_certificates=host_pem, private_key=key_pem,
                                                   certificate_chain=cert_pem)


def _pem_to_der(pem):
    """The DER of the first certificate of `pem` (bytes); ValueError if there is none."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


class _PinClient(grpc.ServerInterceptor):
    """Refuses every call whose TLS client certificate is not byte for byte the host's. grpcio
    already requires one that the host's certificate (the only root) verifies; this pins it."""

    _HANDLERS = {(False, False): grpc.unary_unary_rpc_method_handler,
                 (False, True): grpc.unary_stream_rpc_method_handler,
                 (True, False): grpc.stream_unary_rpc_method_handler,
                 (True, True): grpc.stream_stream_rpc_method_handler}

    def __init__(self, host_der):
        self._host_der = host_der

    def _check(self, context):
        presented = context.auth_context().get("x509_pem_cert") or [b""]
        try:
            ok = _pem_to_der(presented[0]) == self._host_der
        except ValueError:
            ok = False
        if not ok:
            print("[WARN] a call was refused: its client certificate is not the host's (AutoMTLS)",
                  file=sys.stderr, flush=True)
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "not the host's certificate (AutoMTLS)")

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        behavior = (handler.unary_unary or handler.unary_stream or handler.stream_unary
                    or handler.stream_stream)

        def checked(request, context):
            self._check(context)
            return behavior(request, context)

        make = self._HANDLERS[(handler.request_streaming, handler.response_streaming)]
        return make(checked, request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer)


class _Broker(grpc_broker_pb2_grpc.GRPCBrokerServicer):
    def __init__(self, stopped):
        self._offers = {}
        self._cond = threading.Condition()
        self._stopped = stopped

    def wait_for(self, service_id, timeout):
        with self._cond:
            self._cond.wait_for(lambda: service_id in self._offers, timeout)
            return self._offers.get(service_id)

    def StartStream(self, request_iterator, context):
        def read():
            for info in request_iterator:
                with self._cond:
                    self._offers[info.service_id] = info
                    self._cond.notify_all()
        threading.Thread(target=read, daemon=True).start()
        # The plugin offers nothing; the stream stays open until the plugin stops.
        self._stopped.wait()
        return
        yield  # a generator: the response stream


class _Controller(grpc_controller_pb2_grpc.GRPCControllerServicer):
    def __init__(self, stopped):
        self._stopped = stopped

    def Shutdown(self, request, context):
        self._stopped.set()
        return grpc_controller_pb2.Empty()


class _PluginService(plugin_pb2_grpc.PluginServicer):
    def __init__(self, plugin, host):
        self._plugin = plugin
        self._host = host

    def Boot(self, request, context):
        import json
        self._host.broker_id = request.host_api_broker_id
        config = json.loads(request.config_json) if request.config_json else None
        try:
            adjusted = self._plugin.boot(self._host, config)
        except Exception as e:  # the host shows the message
            context.abort(grpc.StatusCode.UNKNOWN, str(e))
        out = json.dumps(adjusted).encode() if adjusted is not None else b""
        return plugin_pb2.BootResponse(adjusted_config_json=out)

    def Start(self, request, context):
        try:
            self._plugin.start(self._host)
        except Exception as e:
            context.abort(grpc.StatusCode.UNKNOWN, str(e))
        return plugin_pb2.Empty()

    def Stop(self, request, context):
        try:
            self._plugin.stop(self._host)
        except Exception as e:
            context.abort(grpc.StatusCode.UNKNOWN, str(e))
        return plugin_pb2.Empty()

    def Call(self, request, context):
        try:
            out = self._plugin.call(self._host, request.method, request.payload)
            return plugin_pb2.CallResponse(payload=out or b"")
        except PluginError as e:
            return plugin_pb2.CallResponse(error=plugin_pb2.Error(
                message=e.message, code=_CODES.get(e.code, plugin_pb2.FAILED)))
        except Exception as e:
            return plugin_pb2.CallResponse(error=plugin_pb2.Error(
                message="%s: %s" % (type(e).__name__, e), code=plugin_pb2.FAILED))

    def OnEvent(self, request, context):
        try:
            self._plugin.on_event(self._host, request.topic, request.payload)
        except Exception as e:
            print("[ERROR] on_event %s: %s" % (request.topic, e), file=sys.stderr, flush=True)
        return plugin_pb2.Empty()

    def Health(self, request, context):
        report = self._plugin.health()
        if report is None:
            return plugin_pb2.HealthResponse(status=plugin_pb2.HEALTH_UNSPECIFIED)
        status, message = report
        wire = {"healthy": plugin_pb2.HEALTHY, "degraded": plugin_pb2.DEGRADED,
                "unhealthy": plugin_pb2.UNHEALTHY}.get(status, plugin_pb2.HEALTH_UNSPECIFIED)
        return plugin_pb2.HealthResponse(status=wire, message=message or "")


def _auto_mtls():
    """The AutoMTLS setup when the host asks for it (PLUGIN_CLIENT_CERT), else None. Exits 1
    with the reason, which the host shows, when it cannot be done."""
    host_pem = os.environ.get("PLUGIN_CLIENT_CERT", "")
    if not host_pem.strip():
        return None
    try:
        return _Mtls(host_pem.encode())
    except ImportError as e:
        reason = ("AutoMTLS needs the cryptography package (%s): pip install "
                  "'plugboard-plugin[mtls]', or set `process.auto_mtls: false`" % e)
    except ValueError as e:
        reason = "PLUGIN_CLIENT_CERT cannot be used: %s" % e
    print("[ERROR] %s" % reason, file=sys.stderr, flush=True)
    sys.exit(1)


def _choose_version(offered, speaks):
    common = [v for v in speaks if v in offered]
    return max(common) if common else min(speaks)


def serve(plugin, cookie_key=DEFAULT_COOKIE_KEY, cookie_value=DEFAULT_COOKIE_VALUE, versions=(1,)):
    """Serves `plugin` until the host shuts it down. Exits 1 with a message when the process
    was not started by a plugin host (the magic cookie is missing)."""
    if os.environ.get(cookie_key) != cookie_value:
        print("This program is a Plugboard plugin; it is not meant to be run directly: install it "
              "in a plugin directory and start the host that loads it.", file=sys.stderr)
        sys.exit(1)
    offered = []
    for part in os.environ.get("PLUGIN_PROTOCOL_VERSIONS", "").split(","):
        try:
            offered.append(int(part))
        except ValueError:
            pass
    version = _choose_version(offered, list(versions))
    directory = os.environ.get("PLUGIN_UNIX_SOCKET_DIR") or "/tmp"
    path = os.path.join(directory, "plugin-%d.sock" % os.getpid())
    if os.path.exists(path):
        os.unlink(path)

    mtls = _auto_mtls()
    stopped = threading.Event()
    broker = _Broker(stopped)
    host = Host(broker, mtls.client if mtls else None)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                         interceptors=[_PinClient(mtls.host_der)] if mtls else None)
    health_servicer = health.HealthServicer()
    health_servicer.set("plugin", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    grpc_broker_pb2_grpc.add_GRPCBrokerServicer_to_server(broker, server)
    grpc_controller_pb2_grpc.add_GRPCControllerServicer_to_server(_Controller(stopped), server)
    plugin_pb2_grpc.add_PluginServicer_to_server(_PluginService(plugin, host), server)
    if mtls:
        server.add_secure_port("unix:" + path, mtls.server)
        # go-plugin's RawStdEncoding: base64 without padding.
        cert = base64.b64encode(mtls.cert_der).decode().rstrip("=")
    else:
        server.add_insecure_port("unix:" + path)
        cert = ""
    server.start()
    print("1|%d|unix|%s|grpc|%s" % (version, path, cert), flush=True)
    stopped.wait()
    server.stop(grace=0.5).wait()
    if os.path.exists(path):
        os.unlink(path)
