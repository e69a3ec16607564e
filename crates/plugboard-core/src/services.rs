//! The service registry: named objects that plugins offer each other.
//!
//! A plugin registers services while it starts ([`HostApi::register_service`]); another
//! plugin resolves one by id ([`HostApi::service`]) only if it declares the provider in
//! `requires` or `optional`, so the dependency graph stays the whole truth about who talks to
//! whom, and the provider is guaranteed to have started first. A provider's services are
//! withdrawn when it stops.
//!
//! [`HostApi::register_service`]: crate::HostApi::register_service
//! [`HostApi::service`]: crate::HostApi::service

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::RwLock;
use plugboard_manifest::PluginId;

use crate::{CallError, Reply};

/// Something a plugin offers other plugins: methods taking and returning bytes.
pub trait Service: Send + Sync + 'static {
    /// Calls `method` with `payload`.
    fn call<'a>(&'a self, method: &'a str, payload: &'a [u8]) -> Reply<'a>;
}

impl<F> Service for F
where
    F: Fn(&str, &[u8]) -> Result<Vec<u8>, CallError> + Send + Sync + 'static,
{
    fn call<'a>(&'a self, method: &'a str, payload: &'a [u8]) -> Reply<'a> {
        Reply::ready(self(method, payload))
    }
}

/// A resolved service: its provider and the object.
#[derive(Clone)]
pub struct ServiceHandle {
    provider: PluginId,
    generation: u64,
    id: Arc<str>,
    service: Arc<dyn Service>,
}

impl ServiceHandle {
    /// The plugin that registered it.
    pub fn provider(&self) -> &PluginId {
        &self.provider
    }

    /// The service id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Calls `method` with `payload`.
    pub fn call<'a>(&'a self, method: &'a str, payload: &'a [u8]) -> Reply<'a> {
        self.service.call(method, payload)
    }
}

impl fmt::Debug for ServiceHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceHandle")
            .field("provider", &self.provider)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
pub(crate) struct ServiceRegistry {
    services: RwLock<HashMap<Arc<str>, ServiceHandle>>,
}

impl fmt::Debug for ServiceRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.services.read().values())
            .finish()
    }
}

impl ServiceRegistry {
    /// Registers `service` under `id` for `provider`'s generation `generation`. A newer
    /// version of the same provider takes over an id its predecessor registered (hot reload).
    pub(crate) fn register(
        &self,
        provider: &PluginId,
        generation: u64,
        id: &str,
        service: Arc<dyn Service>,
    ) -> Result<(), CallError> {
        let mut map = self.services.write();
        if let Some(existing) = map.get(id).filter(|e| &e.provider != provider) {
            return Err(CallError::Denied(format!(
                "service {id:?} is already registered by {}; service ids are unique in a host, prefix yours with your plugin id",
                existing.provider
            )));
        }
        let id: Arc<str> = id.into();
        map.insert(
            id.clone(),
            ServiceHandle {
                provider: provider.clone(),
                generation,
                id,
                service,
            },
        );
        Ok(())
    }

    /// Withdraws what generation `generation` of `provider` registered; a successor's
    /// registrations stay.
    pub(crate) fn withdraw(&self, provider: &PluginId, generation: u64) {
        self.services
            .write()
            .retain(|_, h| !(&h.provider == provider && h.generation == generation));
    }

    pub(crate) fn get(&self, id: &str) -> Option<ServiceHandle> {
        self.services.read().get(id).cloned()
    }

    pub(crate) fn ids_of(&self, provider: &PluginId) -> Vec<String> {
        let mut ids: Vec<String> = self
            .services
            .read()
            .values()
            .filter(|h| &h.provider == provider)
            .map(|h| h.id.to_string())
            .collect();
        ids.sort();
        ids
    }
}
