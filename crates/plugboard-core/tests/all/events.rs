//! Events between plugins and the application.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use plugboard_core::{CallError, Event, Host, PluginState, StateChange, STATE_TOPIC};

use crate::support::{eventually, manifest, within, Journal, Probe};

type Inbox = Arc<Mutex<Vec<Event>>>;

fn listener(j: &Journal, inbox: &Inbox) -> Probe {
    let inbox = inbox.clone();
    Probe::new(j).on_event(move |_, e| inbox.lock().push(e.clone()))
}

fn publisher(j: &Journal) -> Probe {
    Probe::new(j).on_call(|host, method, payload| {
        host.publish(method, payload.to_vec())?;
        Ok(Vec::new())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_plugin_receives_another_plugins_events() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let inbox = Inbox::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("listener", "subscribes: [orders.*, audit]\n"),
            listener(&j, &inbox).factory(),
        )
        .plugin(manifest("publisher", ""), publisher(&j).factory())
        .build()
        .unwrap();
    let mut app = host.subscribe("orders.*");
    within(10, host.start()).await.unwrap();

    host.call("publisher", "orders.created", b"{\"id\":1}")
        .await
        .unwrap();
    host.call("publisher", "unrelated.topic", b"x")
        .await
        .unwrap();
    host.publish("audit", b"from the application".to_vec());
    eventually("both events", || inbox.lock().len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let got: Vec<(String, Vec<u8>, Option<String>)> = inbox
        .lock()
        .iter()
        .map(|e| {
            (
                e.topic.clone(),
                e.payload.clone(),
                e.source.as_ref().map(ToString::to_string),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "orders.created".to_owned(),
                b"{\"id\":1}".to_vec(),
                Some("publisher".to_owned())
            ),
            ("audit".to_owned(), b"from the application".to_vec(), None),
        ]
    );
    // The application's subscription sees the plugin's event too, with its source.
    let e = within(5, app.recv()).await.unwrap();
    assert_eq!(e.topic, "orders.created");
    assert_eq!(e.source.as_ref().map(|s| s.as_str()), Some("publisher"));
    assert!(app.try_recv().is_none());

    // Once the listener stops, its subscription ends.
    within(10, host.stop()).await;
    let before = inbox.lock().len();
    host.publish("orders.late", Vec::new());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(inbox.lock().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_topics_are_refused_for_plugins() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(manifest("publisher", ""), publisher(&j).factory())
        .build()
        .unwrap();
    let mut states = host.subscribe(STATE_TOPIC);
    within(10, host.start()).await.unwrap();
    while states.try_recv().is_some() {}
    for topic in ["plugin.state", "plugin.anything"] {
        match host.call("publisher", topic, b"{}").await.unwrap_err() {
            CallError::Denied(msg) => {
                assert!(msg.contains("reserved for the host"), "{msg}");
                assert!(
                    msg.contains("publisher."),
                    "suggests a topic of its own: {msg}"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Nothing forged reached the subscribers.
    assert!(states.try_recv().is_none());
    // A topic that merely starts with the word is the plugin's own.
    host.call("publisher", "plugins.list", b"").await.unwrap();
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_can_watch_the_lifecycle_of_others() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let inbox = Inbox::default();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("watcher", "subscribes: [plugin.state]\n"),
            listener(&j, &inbox).factory(),
        )
        // Starts after the watcher is subscribed.
        .plugin(
            manifest("late", "requires: {watcher: '*'}\n"),
            Probe::new(&j).factory(),
        )
        .build()
        .unwrap();
    within(10, host.start()).await.unwrap();
    let late_states = || -> Vec<(PluginState, PluginState)> {
        inbox
            .lock()
            .iter()
            .filter_map(|e| e.json::<StateChange>().ok())
            .filter(|c| c.id.as_str() == "late")
            .map(|c| (c.from, c.to))
            .collect()
    };
    eventually("late's transitions", || late_states().len() == 3).await;
    assert_eq!(
        late_states(),
        [
            (PluginState::Resolved, PluginState::Loaded),
            (PluginState::Loaded, PluginState::Booted),
            (PluginState::Booted, PluginState::Active),
        ]
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_event_handler_is_logged_and_the_plugin_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::default();
    let inbox = Inbox::default();
    let keep = inbox.clone();
    let host = Host::builder()
        .state_dir(tmp.path())
        .plugin(
            manifest("touchy", "subscribes: [t]\n"),
            Probe::new(&j)
                .on_event(move |_, e| {
                    if e.payload == b"bad" {
                        panic!("cannot handle this");
                    }
                    keep.lock().push(e.clone());
                })
                .factory(),
        )
        .build()
        .unwrap();
    within(10, host.start()).await.unwrap();
    host.publish("t", b"bad".to_vec());
    host.publish("t", b"good".to_vec());
    eventually("the good event", || inbox.lock().len() == 1).await;
    assert_eq!(host.state("touchy"), Some(PluginState::Active));
    assert!(host
        .read_log("touchy")
        .unwrap()
        .contains("on_event panicked: cannot handle this"));
    host.stop().await;
}
