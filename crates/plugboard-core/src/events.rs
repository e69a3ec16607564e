//! Publish/subscribe on topics.
//!
//! Plugins subscribe in their manifest (`subscribes: [plugin.state]`); the application
//! subscribes in code with [`Host::subscribe`](crate::Host::subscribe). A topic pattern is an
//! exact topic, a prefix ending in `.*` (`plugin.*`), or `*` for everything. Lifecycle
//! transitions are published on [`STATE_TOPIC`].

use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::RwLock;
use plugboard_manifest::PluginId;
use serde::Serialize;
use tokio::sync::mpsc;

/// The topic of lifecycle transitions; the payload is a JSON [`StateChange`](crate::StateChange).
pub const STATE_TOPIC: &str = "plugin.state";

/// How many events wait for one slow subscriber before newer ones are dropped (and counted).
pub const SUBSCRIBER_QUEUE: usize = 1024;

/// One published event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The topic, for example `plugin.state` or `orders.created`.
    pub topic: String,
    /// The payload bytes (JSON by convention).
    pub payload: Vec<u8>,
    /// The plugin that published it; `None` for the host and the application.
    pub source: Option<PluginId>,
    /// When it was published.
    #[serde(skip)]
    pub at: SystemTime,
}

impl Event {
    /// An event from the host.
    pub fn new(topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            topic: topic.into(),
            payload: payload.into(),
            source: None,
            at: SystemTime::now(),
        }
    }

    /// The payload as JSON.
    ///
    /// # Errors
    /// When the payload is not JSON of that shape.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.payload)
    }
}

/// Whether `pattern` (exact, `prefix.*` or `*`) matches `topic`.
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(prefix) => topic
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.')),
        None => pattern == topic,
    }
}

/// A subscription's receiving end.
#[derive(Debug)]
pub struct Subscription {
    rx: mpsc::Receiver<Arc<Event>>,
}

impl Subscription {
    /// The next event; `None` when the host is gone.
    pub async fn recv(&mut self) -> Option<Arc<Event>> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Arc<Event>> {
        self.rx.try_recv().ok()
    }
}

#[derive(Debug)]
struct Subscriber {
    patterns: Vec<String>,
    /// The plugin (and its generation) that subscribed, so its subscriptions end when it
    /// stops, and a successor's survive.
    owner: Option<(PluginId, u64)>,
    tx: mpsc::Sender<Arc<Event>>,
}

/// The host's event bus.
#[derive(Debug, Default)]
pub(crate) struct EventBus {
    subscribers: RwLock<Vec<Subscriber>>,
    dropped: std::sync::atomic::AtomicU64,
}

impl EventBus {
    pub(crate) fn subscribe(&self, pattern: &str, owner: Option<(PluginId, u64)>) -> Subscription {
        self.subscribe_many(vec![pattern.to_owned()], owner)
    }

    /// One subscription for several patterns: an event matching more than one arrives once.
    pub(crate) fn subscribe_many(
        &self,
        patterns: Vec<String>,
        owner: Option<(PluginId, u64)>,
    ) -> Subscription {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        self.subscribers.write().push(Subscriber {
            patterns,
            owner,
            tx,
        });
        Subscription { rx }
    }

    pub(crate) fn unsubscribe_owner(&self, owner: &PluginId, generation: u64) {
        self.subscribers.write().retain(|s| match &s.owner {
            Some((id, g)) => !(id == owner && *g == generation),
            None => true,
        });
    }

    /// Delivers `event` to every matching subscriber without waiting: a full queue drops the
    /// event for that subscriber (counted in [`EventBus::dropped`]), so one slow plugin cannot
    /// stall the publisher or the others.
    pub(crate) fn publish(&self, event: Event) {
        let event = Arc::new(event);
        let mut closed = false;
        for s in self.subscribers.read().iter() {
            if s.patterns.iter().any(|p| topic_matches(p, &event.topic)) {
                match s.tx.try_send(event.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        self.dropped
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::warn!(topic = %event.topic, subscriber = ?s.owner, "event queue full; event dropped for this subscriber");
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => closed = true,
                }
            }
        }
        if closed {
            self.subscribers.write().retain(|s| !s.tx.is_closed());
        }
    }

    /// How many events were dropped because a subscriber's queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(topic_matches("*", "a.b"));
        assert!(topic_matches("plugin.*", "plugin.state"));
        assert!(!topic_matches("plugin.*", "plugin"));
        assert!(!topic_matches("plugin.*", "plugins.state"));
        assert!(topic_matches("plugin.state", "plugin.state"));
        assert!(!topic_matches("plugin.state", "plugin.stat"));
    }

    #[tokio::test]
    async fn delivers_to_matching_subscribers_only() {
        let bus = EventBus::default();
        let mut a = bus.subscribe("orders.*", None);
        let mut b = bus.subscribe("plugin.state", None);
        bus.publish(Event::new("orders.created", b"1".to_vec()));
        assert_eq!(a.recv().await.unwrap().payload, b"1");
        assert!(b.try_recv().is_none());
    }

    #[test]
    fn overlapping_patterns_deliver_once() {
        let bus = EventBus::default();
        let mut s = bus.subscribe_many(vec!["a.*".into(), "a.b".into()], None);
        bus.publish(Event::new("a.b", Vec::new()));
        assert!(s.try_recv().is_some());
        assert!(s.try_recv().is_none());
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let bus = EventBus::default();
        let _slow = bus.subscribe("t", None);
        for _ in 0..SUBSCRIBER_QUEUE + 3 {
            bus.publish(Event::new("t", Vec::new()));
        }
        assert_eq!(bus.dropped(), 3);
    }

    #[test]
    fn closed_subscriptions_are_pruned() {
        let bus = EventBus::default();
        drop(bus.subscribe("t", None));
        bus.publish(Event::new("t", Vec::new()));
        assert!(bus.subscribers.read().is_empty());
    }
}
