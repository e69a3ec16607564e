//! The server over real HTTP: the token, the cookie, CSRF and Origin, bad paths, sizes, the
//! panel bridge, and the live events.

use plugboard::PluginState;
use plugboard_dashboard::{Dashboard, DashboardError, DashboardOptions};

use crate::support::Fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_needs_the_token() {
    let f = Fixture::start().await;
    for path in [
        "/",
        "/api/plugins",
        "/assets/app.js",
        "/api/events",
        "/nope",
    ] {
        let a = f.raw(&format!("GET {path} HTTP/1.1"), b"").await;
        assert_eq!(a.status, 401, "{path}: {a:?}");
        assert!(
            a.body.contains("token"),
            "the refusal says what to do: {}",
            a.body
        );
    }
    let a = f.raw("GET /?token=wrong HTTP/1.1", b"").await;
    assert_eq!(a.status, 401);
    let a = f
        .raw(
            "GET /api/plugins HTTP/1.1\nAuthorization: Bearer wrong",
            b"",
        )
        .await;
    assert_eq!(a.status, 401);
    let a = f
        .raw(
            &format!(
                "GET /api/plugins HTTP/1.1\nCookie: plugboard_session_{}=0123456789abcdef",
                f.dashboard.addr().port()
            ),
            b"",
        )
        .await;
    assert_eq!(a.status, 401, "an unknown session is refused");
    let a = f
        .raw(
            &format!(
                "GET /api/plugins HTTP/1.1\nAuthorization: Bearer {}",
                f.dashboard.token()
            ),
            b"",
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let ids: Vec<String> = a
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    for id in ["base-utils", "text-tools", "metrics", "hostile-panel"] {
        assert!(ids.iter().any(|i| i == id), "{id} in {ids:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_exchanged_for_a_strict_http_only_cookie() {
    let f = Fixture::start().await;
    let a = f
        .raw(
            &format!("GET /?token={}&x=1 HTTP/1.1", f.dashboard.token()),
            b"",
        )
        .await;
    assert_eq!(a.status, 303);
    assert_eq!(
        a.header("location"),
        Some("/?x=1"),
        "the token leaves the URL"
    );
    let cookie = a.header("set-cookie").expect("a cookie");
    let name = format!("plugboard_session_{}=", f.dashboard.addr().port());
    assert!(
        cookie.starts_with(&name),
        "the cookie is this port's: {cookie}"
    );
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let (cookie, _) = f.login().await;
    let page = f
        .raw(&format!("GET / HTTP/1.1\nCookie: {cookie}"), b"")
        .await;
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline"),
        "no inline code on the dashboard: {csp}"
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(page.body.contains("/assets/app.js"));
    let js = f
        .raw(
            &format!("GET /assets/app.js HTTP/1.1\nCookie: {cookie}"),
            b"",
        )
        .await;
    assert_eq!(js.status, 200);
    assert_eq!(js.header("content-type"), Some("text/javascript"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_need_the_csrf_token_and_the_own_origin() {
    let f = Fixture::start().await;
    let (cookie, csrf) = f.login().await;
    let origin = f.origin();
    let post = |extra: String| {
        format!("POST /api/plugins/metrics/actions/restart HTTP/1.1\nCookie: {cookie}\nContent-Type: application/json{extra}")
    };
    let a = f.raw(&post(format!("\nOrigin: {origin}")), b"{}").await;
    assert_eq!(a.status, 403, "no CSRF token: {a:?}");
    assert!(a.body.contains("CSRF"));
    let a = f
        .raw(
            &post(format!(
                "\nOrigin: {origin}\nX-Plugboard-Csrf: {}",
                "0".repeat(64)
            )),
            b"{}",
        )
        .await;
    assert_eq!(a.status, 403, "a wrong CSRF token: {a:?}");
    let a = f
        .raw(
            &post(format!(
                "\nOrigin: http://evil.example\nX-Plugboard-Csrf: {csrf}"
            )),
            b"{}",
        )
        .await;
    assert_eq!(a.status, 403, "another origin: {a:?}");
    let a = f
        .raw(&post(format!("\nX-Plugboard-Csrf: {csrf}")), b"{}")
        .await;
    assert_eq!(a.status, 403, "no origin: {a:?}");
    let a = f
        .raw(
            &post(format!(
                "\nOrigin: {origin}\nX-Plugboard-Csrf: {csrf}\nSec-Fetch-Site: cross-site"
            )),
            b"{}",
        )
        .await;
    assert_eq!(a.status, 403, "a cross-site fetch: {a:?}");
    assert_eq!(f.host.status("metrics").map(|s| s.calls), Some(0));
    let a = f
        .raw(
            &post(format!("\nOrigin: {origin}\nX-Plugboard-Csrf: {csrf}")),
            b"{}",
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json()["status"]["state"], "active");
    assert!(a.json()["events"][0]
        .as_str()
        .is_some_and(|e| e.contains("metrics")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_and_odd_paths_are_refused() {
    let f = Fixture::start().await;
    let (cookie, csrf) = f.login().await;
    for path in [
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/Cargo.toml",
        "/assets/%2E%2E%2FCargo.toml",
        "/assets/..%2fCargo.toml",
        "/assets/..%5cCargo.toml",
        "/assets/./app.js",
    ] {
        let a = f
            .raw(&format!("GET {path} HTTP/1.1\nCookie: {cookie}"), b"")
            .await;
        assert_eq!(a.status, 400, "{path}: {a:?}");
    }
    let a = f
        .raw(
            &format!("GET /assets/Cargo.toml HTTP/1.1\nCookie: {cookie}"),
            b"",
        )
        .await;
    assert_eq!(a.status, 404, "only the compiled-in assets exist");
    // A panel key opens its own plugin's panel folder, and nothing beside it.
    let open = f
        .raw(
            &format!(
                "POST /api/plugins/text-tools/panel HTTP/1.1\nCookie: {cookie}\nOrigin: {}\nX-Plugboard-Csrf: {csrf}",
                f.origin()
            ),
            b"{}",
        )
        .await;
    assert_eq!(open.status, 200, "{open:?}");
    let frame = open.json()["frame"]
        .as_str()
        .expect("a frame URL")
        .to_owned();
    let ok = f
        .raw(&format!("GET {frame}files/ui/index.js HTTP/1.1"), b"")
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    for rest in [
        "files/ui/%2e%2e/plugin.yaml",
        "files/ui/../plugin.yaml",
        "files/plugin.yaml",
        "files/ui/icon.svg/..",
    ] {
        let a = f.raw(&format!("GET {frame}{rest} HTTP/1.1"), b"").await;
        assert!(matches!(a.status, 400 | 404), "{rest}: {a:?}");
        assert!(!a.body.contains("text-tools"), "{rest} leaked the manifest");
    }
    let a = f
        .raw(
            "GET /panel/0123456789abcdef/files/ui/index.js HTTP/1.1",
            b"",
        )
        .await;
    assert_eq!(a.status, 404, "an unknown panel key opens nothing");
    let doc = f.raw(&format!("GET {frame} HTTP/1.1"), b"").await;
    assert_eq!(doc.status, 200);
    let csp = doc.header("content-security-policy").expect("a frame CSP");
    assert!(csp.starts_with("sandbox allow-scripts;"), "{csp}");
    assert!(csp.contains("connect-src 'none'"), "{csp}");
    assert!(!doc.body.contains(&csrf) && !doc.body.contains(f.dashboard.token()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_and_foreign_hosts_are_refused() {
    let f = Fixture::start_with(DashboardOptions::new().max_body(1024)).await;
    let (cookie, csrf) = f.login().await;
    let head = format!(
        "POST /api/plugins/text-tools/call HTTP/1.1\nCookie: {cookie}\nOrigin: {}\nX-Plugboard-Csrf: {csrf}\nContent-Type: application/json",
        f.origin()
    );
    let big = format!(r#"{{"method":"count","payload":"{}"}}"#, "a ".repeat(2000));
    let a = f.raw(&head, big.as_bytes()).await;
    assert_eq!(a.status, 413, "{a:?}");
    // Chunked, with no length declared up front: the extractor's limit stops it.
    let chunked = format!("{head}\nTransfer-Encoding: chunked");
    let mut body = format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len()).into_bytes();
    body.shrink_to_fit();
    let a = f.raw(&chunked, &body).await;
    assert_eq!(a.status, 413, "{a:?}");
    let a = f
        .raw(&head, br#"{"method":"count","payload":"a b c"}"#)
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json()["result"], 3);
    let a = f
        .raw("GET /api/plugins HTTP/1.1\nHost: evil.example:80", b"")
        .await;
    assert_eq!(a.status, 421, "a rebinding Host is refused: {a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_bridge_refuses_another_plugins_method() {
    let f = Fixture::start().await;
    let (cookie, csrf) = f.login().await;
    let call = |target: &str, panel: &str| {
        format!(
            "POST /api/plugins/{target}/call HTTP/1.1\nCookie: {cookie}\nOrigin: {}\nX-Plugboard-Csrf: {csrf}\nX-Plugboard-Panel: {panel}\nContent-Type: application/json",
            f.origin()
        )
    };
    let body = br#"{"method":"count","payload":"a b"}"#;
    let a = f.raw(&call("text-tools", "hostile-panel"), body).await;
    assert_eq!(a.status, 403, "{a:?}");
    assert!(a.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("only its own plugin")));
    assert_eq!(
        f.host.status("text-tools").map(|s| s.calls),
        Some(0),
        "the refused call never reached the plugin"
    );
    let a = f.raw(&call("text-tools", "text-tools"), body).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json()["result"], 2);
    // A panel key cannot post anything either.
    let open = f
        .raw(
            &format!(
                "POST /api/plugins/hostile-panel/panel HTTP/1.1\nCookie: {cookie}\nOrigin: {}\nX-Plugboard-Csrf: {csrf}",
                f.origin()
            ),
            b"{}",
        )
        .await;
    let frame = open.json()["frame"].as_str().expect("a frame").to_owned();
    let a = f
        .raw(&format!("POST {frame}files/ui/index.js HTTP/1.1"), b"x")
        .await;
    assert_eq!(a.status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changes_are_pushed_as_events() {
    let f = Fixture::start().await;
    let (cookie, csrf) = f.login().await;
    let mut stream = tokio::net::TcpStream::connect(f.dashboard.addr())
        .await
        .expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(
            format!(
                "GET /api/events HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\r\n",
                f.host_header()
            )
            .as_bytes(),
        )
        .await
        .expect("send");
    // Let the stream subscribe before the action.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let a = f
        .raw(
            &format!(
                "POST /api/plugins/metrics/actions/disable HTTP/1.1\nCookie: {cookie}\nOrigin: {}\nX-Plugboard-Csrf: {csrf}",
                f.origin()
            ),
            b"{}",
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(f.host.state("metrics"), Some(PluginState::Disabled));
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.contains("\"to\":\"disabled\"") {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("an event within 10 s")
            .expect("read");
        assert!(n > 0, "the stream ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("event: state"), "{seen}");
    assert!(seen.contains("\"id\":\"metrics\""), "{seen}");
}

#[tokio::test]
async fn remote_addresses_need_consent() {
    let host = plugboard::Host::builder()
        .state_dir(tempfile::tempdir().expect("dir").path())
        .build()
        .expect("an empty host");
    let err = Dashboard::serve(
        host.clone(),
        DashboardOptions::new().listen("0.0.0.0:0".parse().expect("addr")),
    )
    .await
    .expect_err("refused");
    assert!(matches!(err, DashboardError::NotLoopback(_)));
    assert!(err.to_string().contains("allow"), "{err}");
    let err = Dashboard::serve(host.clone(), DashboardOptions::new().token("short"))
        .await
        .expect_err("refused");
    assert!(matches!(err, DashboardError::WeakToken));
    let running = Dashboard::serve(
        host,
        DashboardOptions::new()
            .listen("0.0.0.0:0".parse().expect("addr"))
            .allow_remote(true),
    )
    .await
    .expect("allowed explicitly");
    assert!(running.url().starts_with("http://127.0.0.1:"));
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_page_has_its_manifest_graph_permissions_config_and_log() {
    let f = Fixture::start().await;
    let bearer = format!("Authorization: Bearer {}", f.dashboard.token());
    let a = f
        .raw(
            &format!("GET /api/plugins/text-tools HTTP/1.1\n{bearer}"),
            b"",
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let d = a.json();
    assert_eq!(d["status"]["state"], "active");
    assert_eq!(d["manifest"]["id"], "text-tools");
    assert!(d["manifest_yaml"]
        .as_str()
        .is_some_and(|y| y.contains("ui:")));
    let deps: Vec<(&str, bool)> = d["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .map(|x| (x["id"].as_str().unwrap_or(""), x["optional"] == true))
        .collect();
    assert_eq!(deps, [("base-utils", false), ("metrics", true)]);
    assert_eq!(d["permissions"]["requested"]["storage"], true);
    assert_eq!(d["permissions"]["granted"]["storage"], true);
    assert_eq!(d["config"]["value"]["max_words"], 1000);
    assert_eq!(d["ui"]["title"], "Word counts");
    let base = f
        .raw(
            &format!("GET /api/plugins/base-utils HTTP/1.1\n{bearer}"),
            b"",
        )
        .await;
    assert_eq!(base.json()["dependents"][0]["id"], "text-tools");

    let log = f
        .raw(
            &format!("GET /api/plugins/text-tools/log HTTP/1.1\n{bearer}"),
            b"",
        )
        .await;
    let lines = log.json();
    let lines = lines.as_array().expect("lines");
    assert!(lines.iter().any(|l| l["level"] == "info"), "{lines:?}");
    assert!(lines.iter().any(|l| l["level"] == "debug"), "{lines:?}");
    let info = f
        .raw(
            &format!("GET /api/plugins/text-tools/log?level=info HTTP/1.1\n{bearer}"),
            b"",
        )
        .await
        .json();
    let info = info.as_array().expect("lines");
    assert!(!info.is_empty() && info.iter().all(|l| l["level"] == "info"));

    for path in [
        "/api/plugins/nope",
        "/api/plugins/nope/log",
        "/api/plugins/nope/log/stream",
    ] {
        let a = f.raw(&format!("GET {path} HTTP/1.1\n{bearer}"), b"").await;
        assert_eq!(a.status, 404, "{path}: {a:?}");
        assert!(a.body.contains("no plugin"), "{}", a.body);
    }
    let a = f
        .raw(
            &format!("POST /api/plugins/metrics/actions/explode HTTP/1.1\n{bearer}"),
            b"{}",
        )
        .await;
    assert_eq!(a.status, 404);
    assert!(
        a.body.contains("enable, disable, restart, reload"),
        "{}",
        a.body
    );
    let a = f
        .raw(
            &format!("POST /api/plugins/text-tools/call HTTP/1.1\n{bearer}"),
            b"{not json",
        )
        .await;
    assert_eq!(a.status, 400, "{a:?}");
}
