//! Orders through the real daemon: what a failing order source writes to
//! the log, and order conditions in the one timeline (`history`).

use crate::support;

use certvigil::checks::caa::CaaRecord;
use support::daemon::DaemonBench;
use support::dns::TestDns;
use support::http::{HttpReceiver, Reply};

/// The log lines at WARN or ERROR that mention `needle`.
fn loud_lines_with(log: &str, needle: &str) -> usize {
    log.lines()
        .filter(|l| (l.contains("WARN") || l.contains("ERROR")) && l.contains(needle))
        .count()
}

/// Issue 11: a failed order poll was logged twice (a WARN where the poll
/// failed, an ERROR in the poller). Every poll of the order below fails
/// (its ACME server answers 500); the log must say so once per poll.
#[tokio::test]
async fn a_failed_order_poll_is_logged_once_per_poll() {
    let bench = DaemonBench::new();
    let dns = TestDns::start_sync();
    dns.set_logging(false);
    dns.set_caa(
        "example.com",
        [CaaRecord::new(0, "issue", "letsencrypt.org")],
    );
    let acme = HttpReceiver::start(vec![], Reply::new(500, "{\"detail\":\"down\"}")).await;
    let order_url = acme.url("/acme/order/broken-7");
    bench.write_config(
        dns.addr(),
        &format!(
            r#"
[[domains]]
name = "example.com"
ca = ["letsencrypt"]

[[providers]]
name = "le"
kind = "acme"
endpoint = "{directory}"

[[orders]]
name = "broken"
provider = "le"
url = "{order_url}"
"#,
            directory = acme.url("/directory"),
        ),
    );
    let daemon = bench.start();
    // Two failed polls at least: with two log lines per failure, the
    // count below could not match the requests even if the daemon stopped
    // between a request and its log line.
    let polled = |r: &support::http::ReceivedRequest| r.target.contains("broken-7");
    bench
        .wait_for("two failed polls, logged", || {
            let polls = acme.received().iter().filter(|r| polled(r)).count();
            (polls >= 2 && loud_lines_with(&bench.log_text(), "broken-7") >= 1).then_some(())
        })
        .await;
    daemon.terminate().await;
    let polls = acme.received().iter().filter(|r| polled(r)).count();
    let lines = loud_lines_with(&bench.log_text(), "broken-7");
    assert!(polls >= 2, "{polls} polls");
    // One line per failed poll; the last poll's line may be cut by the stop.
    assert!(
        lines == polls || lines + 1 == polls,
        "{lines} WARN/ERROR lines for {polls} failed polls:\n{}",
        bench.log_text()
    );
}

/// Issue 10: order conditions are events in the one timeline. A manual
/// order placed days ago whose validation record is missing goes stuck (and
/// blocked); both show in `history --format json`, in /api/history (the
/// same lines) and on the web timeline of its name, beside the CAA events.
#[tokio::test]
async fn an_order_going_stuck_is_an_event_in_history_and_the_web_timeline() {
    let bench = DaemonBench::new();
    let dns = TestDns::start_sync();
    dns.set_logging(false);
    dns.set_caa(
        "example.com",
        [CaaRecord::new(0, "issue", "letsencrypt.org")],
    );
    let addr = crate::web::free_addr();
    bench.write_config(
        dns.addr(),
        &format!(
            r#"
[[domains]]
name = "example.com"
ca = ["letsencrypt"]

[[orders]]
name = "www-old"
ca = "letsencrypt"
domains = ["www.example.com", "example.com"]
validation = {{ method = "dns", record = "_dnsauth.www.example.com", type = "TXT", value = "2026example" }}
placed_at = "2020-01-01T00:00:00Z"

[web]
listen = "{addr}"
"#
        ),
    );
    let daemon = bench.start();
    let stuck = bench
        .wait_for("an order_stuck event", || {
            bench
                .history()
                .into_iter()
                .find(|e| e["check"] == "order" && e["event"] == "order_stuck")
        })
        .await;
    assert_eq!(stuck["order"], "manual/www-old", "{stuck}");
    assert_eq!(stuck["domain"], "www.example.com", "{stuck}");
    assert_eq!(stuck["after_status"], "holding", "{stuck}");
    assert!(
        stuck["detail"].as_str().unwrap().contains("www-old"),
        "{stuck}"
    );
    // Let the CAA baseline land too, then stop writing: both renderings
    // must read the same rows.
    bench
        .wait_for("the CAA baseline", || {
            bench
                .history()
                .into_iter()
                .find(|e| e["check"] == "caa" && e["event"] == "baseline")
        })
        .await;
    let history = bench.history();
    let order_status = history
        .iter()
        .find(|e| e["event"] == "order_status")
        .expect("the order's first status is an event");
    assert_eq!(order_status["before_status"], serde_json::Value::Null);
    // One timeline: ordered by time across checks.
    let times: Vec<&str> = history.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    bench
        .wait_for("the web listener", || {
            std::net::TcpStream::connect(addr).ok()
        })
        .await;
    let api = crate::web::get(addr, "/api/history");
    assert_eq!(api.status, 200);
    let api = crate::web::json_lines(&api.body);
    let order_events = |lines: &[serde_json::Value]| -> Vec<serde_json::Value> {
        lines
            .iter()
            .filter(|e| e["check"] == "order")
            .cloned()
            .collect()
    };
    assert!(!order_events(&api).is_empty());
    assert_eq!(order_events(&api), order_events(&bench.history()));
    // Filtered by either of the order's names, its events are there.
    for name in ["example.com", "www.example.com"] {
        let one = crate::web::json_lines(
            &crate::web::get(addr, &format!("/api/history?domain={name}")).body,
        );
        assert!(
            one.iter().any(|e| e["event"] == "order_stuck"),
            "{name}: {one:?}"
        );
    }
    let page = crate::web::get(addr, "/target/example.com");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("order_stuck"), "{}", page.body);
    daemon.terminate().await;
}
