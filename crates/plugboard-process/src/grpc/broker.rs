//! go-plugin's `GRPCBroker`, host side: the host serves its `HostApi` service on a Unix socket
//! of its own and offers it to the plugin as broker id [`HOST_API_BROKER_ID`]; the plugin dials
//! it when it needs the host. Offers from the plugin are kept (by id) for whoever wants them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use plugboard_core::manifest::LogLevel;
use plugboard_core::HostApi;
use plugboard_protocol::grpc::go_plugin::grpc_broker_client::GrpcBrokerClient;
use plugboard_protocol::grpc::go_plugin::ConnInfo;
use plugboard_protocol::grpc::plugboard::host_api_server::HostApiServer;
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::transport::{Channel, Server};

use super::host_service::HostService;
use super::{SocketDir, HOST_API_BROKER_ID};

/// The host's end of one plugin's broker stream, and the host-API server it offered.
pub(crate) struct Broker {
    outbound: Option<mpsc::Sender<ConnInfo>>,
    stop_server: Option<oneshot::Sender<()>>,
    /// What the plugin offered, by broker id (kept for callers of the plugin's own services).
    #[allow(dead_code)]
    pub(crate) offered: Arc<Mutex<HashMap<u32, ConnInfo>>>,
    _own_dir: Option<SocketDir>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").finish_non_exhaustive()
    }
}

impl Broker {
    /// Opens the broker stream and offers the host API. `dir` is the plugin's socket directory
    /// (a new one is made when there is none, as for a reattached plugin).
    pub(crate) async fn start(
        host: &HostApi,
        channel: Channel,
        dir: Option<PathBuf>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<Broker, String> {
        let (own_dir, dir) = match dir {
            Some(d) => (None, d),
            None => {
                let d = SocketDir::new(host.id().as_str())
                    .map_err(|e| format!("cannot create a socket directory: {e}"))?;
                let p = d.path.clone();
                (Some(d), p)
            }
        };
        let path = dir.join("host-api.sock");
        let listener = UnixListener::bind(&path)
            .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let service = HostApiServer::new(HostService { host: host.clone() });
        let log_host = host.clone();
        let tls_host = host.clone();
        tokio::spawn(async move {
            let stop = async {
                let _ = stop_rx.await;
            };
            // With AutoMTLS the plugin dials the host API with TLS too, as go-plugin's
            // brokers do: the host's certificate, the plugin's required.
            let router = Server::builder().add_service(service);
            let served = match tls {
                Some(config) => {
                    router
                        .serve_with_incoming_shutdown(
                            super::tls::incoming(listener, config, tls_host),
                            stop,
                        )
                        .await
                }
                None => {
                    router
                        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), stop)
                        .await
                }
            };
            if let Err(e) = served {
                log_host.log(
                    LogLevel::Warning,
                    &format!("the host-API server for this plugin stopped: {e}"),
                );
            }
        });

        let (tx, rx) = mpsc::channel(8);
        tx.send(ConnInfo {
            service_id: HOST_API_BROKER_ID,
            network: "unix".to_owned(),
            address: path.to_string_lossy().into_owned(),
            knock: None,
        })
        .await
        .map_err(|_| "the broker stream closed at once".to_owned())?;
        let offered: Arc<Mutex<HashMap<u32, ConnInfo>>> = Arc::default();
        let keep = offered.clone();
        let log_host = host.clone();
        // A go-plugin server sends the stream's headers only with its first message, so the
        // call is awaited here, apart, never by the caller.
        tokio::spawn(async move {
            let mut client = GrpcBrokerClient::new(channel);
            let mut inbound = match client.start_stream(ReceiverStream::new(rx)).await {
                Ok(r) => r.into_inner(),
                Err(s) => {
                    if s.code() != tonic::Code::Unimplemented {
                        log_host.log(
                            LogLevel::Debug,
                            &format!("the broker stream ended: {}", s.message()),
                        );
                    }
                    return;
                }
            };
            while let Ok(Some(info)) = inbound.message().await {
                keep.lock().insert(info.service_id, info);
            }
        });
        Ok(Broker {
            outbound: Some(tx),
            stop_server: Some(stop_tx),
            offered,
            _own_dir: own_dir,
        })
    }

    /// Closes the broker stream and stops the host-API server.
    pub(crate) fn close(mut self) {
        self.outbound.take();
        if let Some(s) = self.stop_server.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(s) = self.stop_server.take() {
            let _ = s.send(());
        }
    }
}
