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
    dns.set_caa("example.com", [CaaRecord::new(0, "issue", "letsencrypt.org")]);
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
    let polls = acme
        .received()
        .iter()
        .filter(|r| polled(r))
        .count();
    let lines = loud_lines_with(&bench.log_text(), "broken-7");
    assert!(polls >= 2, "{polls} polls");
    // One line per failed poll; the last poll's line may be cut by the stop.
    assert!(
        lines == polls || lines + 1 == polls,
        "{lines} WARN/ERROR lines for {polls} failed polls:\n{}",
        bench.log_text()
    );
}
