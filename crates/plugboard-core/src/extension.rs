//! Extension points: named, versioned interfaces that plugins implement.
//!
//! The application declares a point with [`HostBuilder::extension_point`]; a plugin declares
//! one with `extension_points:` in its manifest. Plugins implement points with `provides:`.
//! A call goes to one named implementation, to the highest-priority one, to all of them in
//! priority order, or to each in turn until one returns a non-empty result (pluggy's
//! `firstresult`). Payloads are bytes in the point's codec; the `*_typed` methods encode and
//! decode serde types for host code.
//!
//! [`HostBuilder::extension_point`]: crate::HostBuilder::extension_point

use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use arc_swap::ArcSwap;
use futures::future::{self, Either, FutureExt};

use plugboard_manifest::{Cardinality, Codec, ExtensionPointDecl, PluginId};
use semver::Version;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::host::{Gate, HostInner, Route, Slot, Table};
use crate::{CallError, Error, Host, PluginState};

/// The declaration of an extension point.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionPoint {
    /// Its id, for example `text.transform`.
    pub id: String,
    /// The version of its interface.
    pub version: Version,
    /// The methods an implementation may offer; empty means any.
    pub methods: Vec<String>,
    /// One implementation or many.
    pub cardinality: Cardinality,
    /// The payload codec.
    pub codec: Codec,
    /// The plugin that declared it; `None` for the application.
    pub declared_by: Option<PluginId>,
}

impl ExtensionPoint {
    /// A point with version 1.0.0, any method, many implementations, JSON payloads.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            version: Version::new(1, 0, 0),
            methods: Vec::new(),
            cardinality: Cardinality::Many,
            codec: Codec::Json,
            declared_by: None,
        }
    }

    /// Sets the interface version.
    pub fn version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// Sets the methods.
    pub fn methods<S: Into<String>>(mut self, methods: impl IntoIterator<Item = S>) -> Self {
        self.methods = methods.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the cardinality.
    pub fn cardinality(mut self, cardinality: Cardinality) -> Self {
        self.cardinality = cardinality;
        self
    }

    /// Sets the codec.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    pub(crate) fn from_decl(decl: &ExtensionPointDecl, by: PluginId) -> Self {
        Self {
            id: decl.id.clone(),
            version: decl.version.clone(),
            methods: decl.methods.clone(),
            cardinality: decl.cardinality,
            codec: decl.codec,
            declared_by: Some(by),
        }
    }
}

/// One plugin's implementation of a point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Implementation {
    /// The implementing plugin.
    pub plugin: PluginId,
    /// Its priority: higher is called first.
    pub priority: i32,
    /// The methods it implements; empty means all.
    pub methods: Vec<String>,
}

impl Implementation {
    fn has(&self, method: &str) -> bool {
        self.methods.is_empty() || self.methods.iter().any(|m| m == method)
    }
}

/// A point and its implementations at one moment.
pub(crate) struct PointEntry {
    pub(crate) point: ExtensionPoint,
    /// Sorted by priority, highest first.
    pub(crate) impls: Vec<Implementation>,
    /// The implementers' routes, in the same order as `impls`.
    routes: Vec<Arc<Route>>,
    /// Their current slots when this entry was made (the table refreshes the entry whenever a
    /// route changes), for the call path.
    slots: Vec<Arc<Slot>>,
    /// Set once a newer entry replaced this one in its cell.
    stale: std::sync::atomic::AtomicBool,
}

impl PointEntry {
    /// The entry for `point`, implemented by `impls`, routed through `table`'s routes.
    pub(crate) fn new(
        point: ExtensionPoint,
        impls: Vec<(PluginId, i32, Vec<String>)>,
        table: &Table,
    ) -> Self {
        let (impls, routes): (Vec<_>, Vec<_>) = impls
            .into_iter()
            .filter_map(|(plugin, priority, methods)| {
                let route = table.routes.get(&plugin)?.clone();
                Some((
                    Implementation {
                        plugin,
                        priority,
                        methods,
                    },
                    route,
                ))
            })
            .unzip();
        let slots = routes.iter().map(|r| r.current()).collect();
        Self {
            point,
            impls,
            routes,
            slots,
            stale: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// Where a point's handles look for its current implementations: replaced when hot reload
/// changes who implements it, so that a handle taken before sees the plugins added after.
pub(crate) struct PointCell {
    pub(crate) entry: ArcSwap<PointEntry>,
}

impl PointCell {
    pub(crate) fn new(entry: PointEntry) -> Self {
        Self {
            entry: ArcSwap::from_pointee(entry),
        }
    }

    /// Puts `entry` in place of the current one, which handles then stop using.
    pub(crate) fn replace(&self, entry: PointEntry) {
        let old = self.entry.swap(Arc::new(entry));
        old.stale.store(true, Ordering::Release);
    }
}

/// A point entry, either a handle's own (while it is current) or the cell's latest.
enum Current<'a> {
    Kept(&'a Arc<PointEntry>),
    Latest(arc_swap::Guard<Arc<PointEntry>>),
}

impl std::ops::Deref for Current<'_> {
    type Target = PointEntry;

    fn deref(&self) -> &PointEntry {
        match self {
            Current::Kept(e) => e,
            Current::Latest(g) => g,
        }
    }
}

impl Host {
    /// A handle on extension point `id`.
    ///
    /// # Errors
    /// [`Error::UnknownPoint`] when neither the application nor any plugin declares it.
    pub fn point(&self, id: &str) -> Result<PointHandle, Error> {
        let cell = self
            .inner
            .table
            .load()
            .points
            .get(id)
            .ok_or_else(|| Error::UnknownPoint(id.to_owned()))?
            .clone();
        Ok(PointHandle {
            host: self.inner.clone(),
            kept: cell.entry.load_full(),
            cell,
        })
    }

    /// Every declared extension point, sorted by id.
    pub fn points(&self) -> Vec<ExtensionPoint> {
        let mut v: Vec<ExtensionPoint> = self
            .inner
            .table
            .load()
            .points
            .values()
            .map(|p| p.entry.load().point.clone())
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// The extension points plugin `id` implements, with its priority there.
    pub fn provided_by(&self, id: &str) -> Vec<(String, Implementation)> {
        let mut v: Vec<(String, Implementation)> = self
            .inner
            .table
            .load()
            .points
            .values()
            .flat_map(|p| {
                let p = p.entry.load_full();
                p.impls
                    .iter()
                    .filter(|i| i.plugin.as_str() == id)
                    .map(|i| (p.point.id.clone(), i.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// A handle on one extension point. Cheap to clone; keep it to call a point repeatedly. It
/// follows hot reload: plugins added later that implement the point are called too.
#[derive(Clone)]
pub struct PointHandle {
    host: Arc<HostInner>,
    cell: Arc<PointCell>,
    /// The entry current when the handle was taken, used while no change replaced it; then
    /// the handle reads the cell's latest on each call (take a new handle to skip that read).
    kept: Arc<PointEntry>,
}

impl fmt::Debug for PointHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entry = self.current();
        f.debug_struct("PointHandle")
            .field("point", &entry.point.id)
            .field("implementations", &entry.impls)
            .finish()
    }
}

/// Whether `slot` can take `method` of `i` now: active, or lazy and not started.
fn eligible(i: &Implementation, slot: &Slot, method: &str) -> bool {
    // The `active` flag first: it spares the status lock on every call. A version paused for
    // a state hand-off stays eligible: its calls wait for the switch, they do not move on.
    i.has(method)
        && (slot.active.load(Ordering::Acquire)
            || slot.is_paused()
            || (slot.is_lazy() && slot.state() == PluginState::Resolved))
}

/// Calls `slot` directly if it lets the call in, otherwise through its route.
fn call_via<'a>(
    host: &Arc<HostInner>,
    slot: &Arc<Slot>,
    route: &Route,
    method: &'a str,
    payload: &'a [u8],
) -> crate::Reply<'a> {
    if slot.enter() == Gate::Open {
        return Slot::call_entered(slot, method, payload);
    }
    route.call(host, method, payload)
}

impl PointHandle {
    fn current(&self) -> Current<'_> {
        if self.kept.stale.load(Ordering::Acquire) {
            Current::Latest(self.cell.entry.load())
        } else {
            Current::Kept(&self.kept)
        }
    }

    /// The point's declaration.
    pub fn point(&self) -> ExtensionPoint {
        self.current().point.clone()
    }

    /// Every implementation, highest priority first, whatever its plugin's state.
    pub fn implementations(&self) -> Vec<Implementation> {
        self.current().impls.clone()
    }

    /// The implementations that can take `method` now, highest priority first.
    fn eligible(&self, method: &str) -> Vec<(PluginId, Arc<Slot>, Arc<Route>)> {
        let entry = self.current();
        entry
            .impls
            .iter()
            .zip(&entry.slots)
            .zip(&entry.routes)
            .filter(|((i, s), _)| eligible(i, s, method))
            .map(|((i, s), r)| (i.plugin.clone(), s.clone(), r.clone()))
            .collect()
    }

    /// Calls `method` on the implementation by plugin `plugin`.
    ///
    /// # Errors
    /// When that plugin does not implement this point or the method, or the call fails.
    pub async fn call(
        &self,
        plugin: &str,
        method: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        let found = {
            let entry = self.current();
            entry
                .impls
                .iter()
                .zip(&entry.routes)
                .find(|(i, _)| i.plugin.as_str() == plugin)
                .map(|(i, r)| (i.has(method), r.clone()))
        };
        match found {
            Some((true, route)) => route.call(&self.host, method, payload).await,
            Some((false, _)) => Err(CallError::UnknownMethod {
                plugin: plugin.to_owned(),
                method: method.to_owned(),
                known: Vec::new(),
            }),
            None => Err(CallError::Denied(format!(
                "plugin {plugin} does not implement extension point {}",
                self.current().point.id
            ))),
        }
    }

    /// Calls `method` on the highest-priority implementation that can take it: the way to call
    /// a point with `cardinality: one`.
    ///
    /// # Errors
    /// When no implementation is available, or the call fails.
    pub fn call_one<'a>(
        &'a self,
        method: &'a str,
        payload: &'a [u8],
    ) -> impl Future<Output = Result<(PluginId, Vec<u8>), CallError>> + Send + 'a {
        // A plain future over the route's `Reply`, not an `async fn`: a builtin implementation's
        // ready reply completes on the first poll without a state machine to build and move.
        let found = {
            let entry = self.current();
            entry
                .impls
                .iter()
                .zip(&entry.slots)
                .zip(&entry.routes)
                .find(|((i, s), _)| eligible(i, s, method))
                .map(|((i, s), r)| {
                    (
                        i.plugin.clone(),
                        call_via(&self.host, s, r, method, payload),
                    )
                })
        };
        match found {
            Some((id, reply)) => Either::Left(reply.map(move |r| r.map(|out| (id, out)))),
            None => Either::Right(future::ready(Err(self.none_available(method)))),
        }
    }

    /// Calls `method` on every implementation, in priority order, collecting each result.
    pub async fn call_all(
        &self,
        method: &str,
        payload: &[u8],
    ) -> Vec<(PluginId, Result<Vec<u8>, CallError>)> {
        let eligible = self.eligible(method);
        let mut out = Vec::with_capacity(eligible.len());
        for (id, slot, route) in eligible {
            let r = call_via(&self.host, &slot, &route, method, payload).await;
            out.push((id, r));
        }
        out
    }

    /// Calls implementations in priority order until one returns a non-empty result (not zero
    /// bytes, and not JSON `null` on a JSON point), and returns it; `None` if none does.
    ///
    /// # Errors
    /// The first failing call's error, as pluggy propagates an exception: a broken
    /// implementation is not silently skipped.
    pub async fn first(
        &self,
        method: &str,
        payload: &[u8],
    ) -> Result<Option<(PluginId, Vec<u8>)>, CallError> {
        for (id, slot, route) in self.eligible(method) {
            let out = call_via(&self.host, &slot, &route, method, payload).await?;
            if !self.is_empty_result(&out) {
                return Ok(Some((id, out)));
            }
        }
        Ok(None)
    }

    /// [`call_one`](Self::call_one) with typed input and output in the point's codec.
    ///
    /// # Errors
    /// As `call_one`, or when encoding or decoding fails.
    pub async fn call_one_typed<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        method: &str,
        input: &I,
    ) -> Result<(PluginId, O), CallError> {
        let payload = self.encode(method, input)?;
        let (id, out) = self.call_one(method, &payload).await?;
        Ok((id, self.decode(method, &out)?))
    }

    /// [`call_all`](Self::call_all) with typed input and outputs in the point's codec.
    ///
    /// # Errors
    /// When the input cannot be encoded; each output's own error is in its entry.
    pub async fn call_all_typed<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        method: &str,
        input: &I,
    ) -> Result<Vec<(PluginId, Result<O, CallError>)>, CallError> {
        let payload = self.encode(method, input)?;
        Ok(self
            .call_all(method, &payload)
            .await
            .into_iter()
            .map(|(id, r)| (id, r.and_then(|b| self.decode(method, &b))))
            .collect())
    }

    /// [`first`](Self::first) with typed input and output in the point's codec.
    ///
    /// # Errors
    /// As `first`, or when encoding or decoding fails.
    pub async fn first_typed<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        method: &str,
        input: &I,
    ) -> Result<Option<(PluginId, O)>, CallError> {
        let payload = self.encode(method, input)?;
        match self.first(method, &payload).await? {
            Some((id, out)) => Ok(Some((id, self.decode(method, &out)?))),
            None => Ok(None),
        }
    }

    fn none_available(&self, method: &str) -> CallError {
        let entry = self.current();
        CallError::Denied(format!(
            "no active plugin implements {} method {method:?} (implementations: {})",
            entry.point.id,
            if entry.impls.is_empty() {
                "none".to_owned()
            } else {
                entry
                    .impls
                    .iter()
                    .map(|i| i.plugin.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))
    }

    fn codec(&self) -> Codec {
        self.current().point.codec
    }

    fn is_empty_result(&self, out: &[u8]) -> bool {
        let codec = self.codec();
        out.is_empty()
            || (codec == Codec::Json && out.trim_ascii() == b"null")
            || (codec == Codec::Msgpack && out == [0xc0])
    }

    fn encode<I: Serialize + ?Sized>(&self, method: &str, input: &I) -> Result<Vec<u8>, CallError> {
        encode(self.codec(), method, input)
    }

    fn decode<O: DeserializeOwned>(&self, method: &str, bytes: &[u8]) -> Result<O, CallError> {
        decode(self.codec(), method, bytes)
    }
}

/// Encodes `input` in `codec`.
///
/// # Errors
/// When serialization fails, or the codec is `raw` (raw points take bytes, not values).
pub fn encode<I: Serialize + ?Sized>(
    codec: Codec,
    method: &str,
    input: &I,
) -> Result<Vec<u8>, CallError> {
    let err = |message: String| CallError::Codec {
        method: method.to_owned(),
        message,
    };
    match codec {
        Codec::Json => serde_json::to_vec(input).map_err(|e| err(e.to_string())),
        Codec::Msgpack => rmp_serde::to_vec_named(input).map_err(|e| err(e.to_string())),
        Codec::Raw => Err(err(
            "this extension point takes raw bytes; use the untyped call".to_owned(),
        )),
    }
}

/// Decodes `bytes` from `codec`.
///
/// # Errors
/// When the bytes are not a value of that type in that codec.
pub fn decode<O: DeserializeOwned>(
    codec: Codec,
    method: &str,
    bytes: &[u8],
) -> Result<O, CallError> {
    let err = |message: String| CallError::Codec {
        method: method.to_owned(),
        message,
    };
    match codec {
        Codec::Json => serde_json::from_slice(bytes).map_err(|e| err(e.to_string())),
        Codec::Msgpack => rmp_serde::from_slice(bytes).map_err(|e| err(e.to_string())),
        Codec::Raw => Err(err(
            "this extension point returns raw bytes; use the untyped call".to_owned(),
        )),
    }
}
