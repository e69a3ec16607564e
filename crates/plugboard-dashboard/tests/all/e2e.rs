//! The end-to-end tests in a real browser: `tests/e2e/dashboard.mjs` drives Debian's chromium
//! with playwright-core against a dashboard this test serves.

use std::path::Path;
use std::process::Command;

use plugboard_test_support::tool_missing;

use crate::support::Fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_a_real_browser() {
    if tool_missing("node", "apt-get install nodejs")
        || tool_missing("chromium", "apt-get install chromium")
    {
        return;
    }
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    if !e2e.join("node_modules/playwright-core").is_dir() {
        let install = format!("npm ci --prefix {}", e2e.display());
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "playwright-core is missing; install it ({install}); scripts/test does"
        );
        eprintln!("skipping: playwright-core is missing ({install})");
        return;
    }
    let f = Fixture::start().await;
    // Saved where tests write; with PLUGBOARD_UPDATE_SCREENSHOTS=1, into docs/ for the README.
    let shots = if std::env::var("PLUGBOARD_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        crate::support::repo().join("docs/screenshots")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    };
    let mut command = Command::new("node");
    command
        .arg(e2e.join("dashboard.mjs"))
        .current_dir(&e2e)
        .env("DASHBOARD_BASE", f.dashboard.base_url())
        .env("DASHBOARD_TOKEN", f.dashboard.token())
        .env("SCREENSHOTS", &shots);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the node runner")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the browser tests failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    for shot in ["dashboard-plugins.png", "dashboard-panel.png"] {
        assert!(shots.join(shot).is_file(), "{shot} was saved");
    }
}
