//! The web interface of a REAL daemon (`certvigil run` with `[web]`) over
//! a store it filled itself from a loopback DNS server whose CAA record
//! changes (a drift with a diff): every page and API route, `/metrics`
//! parsed (and checked by `promtool` when installed), access control, and
//! a real headless Chromium reading the pages (skipped only when the
//! `chromium` binary is absent).

use crate::support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use certvigil::checks::caa::CaaRecord;
use serde_json::Value;
use support::daemon::{Daemon, DaemonBench};
use support::dns::TestDns;

/// A port free a moment ago on 127.0.0.1.
pub(crate) fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    head: String,
    pub(crate) body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// One HTTP/1.1 request over a fresh connection.
fn request(addr: SocketAddr, method: &str, path: &str, auth: Option<&str>) -> Answer {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    request_with(addr, method, path, &auth)
}

/// [`request`] with `headers` (each ending in CRLF).
fn request_with(addr: SocketAddr, method: &str, path: &str, headers: &str) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Answer {
        status,
        head: head.to_string(),
        body: if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

pub(crate) fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, None)
}

pub(crate) fn json_lines(body: &str) -> Vec<Value> {
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A daemon watching example.com (its CAA record changes from Let's
/// Encrypt to Sectigo: a drift, now forbidden) and example.org (allowed),
/// with the web interface on `addr` and `web_extra` in `[web]`.
async fn drifted(web_extra: &str) -> (DaemonBench, TestDns, Daemon, SocketAddr) {
    let bench = DaemonBench::new();
    let dns = TestDns::start_sync();
    dns.set_logging(false);
    dns.set_caa(
        "example.com",
        [CaaRecord::new(0, "issue", "letsencrypt.org")],
    );
    dns.set_caa(
        "example.org",
        [CaaRecord::new(0, "issue", "letsencrypt.org")],
    );
    let addr = free_addr();
    bench.write_config(
        dns.addr(),
        &format!(
            "\n[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\n\n\
             [[domains]]\nname = \"example.org\"\nca = [\"letsencrypt\"]\n\n\
             [[orders]]\nname = \"www-2026\"\nca = \"letsencrypt\"\ndomains = [\"example.com\"]\n\
             validation = {{ method = \"dns\", record = \"_dnsauth.example.com\", type = \"TXT\", value = \"2026example\" }}\n\
             placed_at = \"2026-11-20T10:00:00+08:00\"\n\n\
             [web]\nlisten = \"{addr}\"\n{web_extra}\n"
        ),
    );
    let daemon = bench.start();
    bench
        .wait_for("example.com to be checked", || {
            bench
                .status()
                .into_iter()
                .find(|r| r["domain"] == "example.com" && r["verdict"] == "allowed")
        })
        .await;
    dns.set_caa("example.com", [CaaRecord::new(0, "issue", "sectigo.com")]);
    bench
        .wait_for("a caa_drift event", || {
            bench
                .history()
                .into_iter()
                .find(|e| e["domain"] == "example.com" && e["event"] == "caa_drift")
        })
        .await;
    (bench, dns, daemon, addr)
}

#[tokio::test]
async fn every_page_and_api_route_shows_what_the_daemon_recorded() {
    let (bench, _dns, daemon, addr) = drifted("").await;

    // The status board: the forbidden target is listed as blocking first.
    let board = get(addr, "/");
    assert_eq!(board.status, 200, "{}", board.body);
    assert!(
        board.body.contains("Blocking issuance (1)"),
        "{}",
        board.body
    );
    assert!(board.body.contains("forbidden (blocks)"), "{}", board.body);
    assert!(board.body.contains("example.org"), "{}", board.body);
    // Security headers on every answer; no script anywhere.
    let csp = board.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("script-src"), "{csp}");
    assert_eq!(board.header("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(board.header("x-frame-options").unwrap(), "DENY");
    assert!(!board.body.contains("<script"), "{}", board.body);
    // Filters are query parameters.
    let allowed = get(addr, "/?verdict=allowed");
    assert!(
        allowed.body.contains("example.org") && !allowed.body.contains(">example.com<"),
        "{}",
        allowed.body
    );
    let by_domain = get(addr, "/?domain=example.com&check=caa");
    assert!(
        !by_domain.body.contains(">example.org<"),
        "{}",
        by_domain.body
    );

    // The target page: the drift with its record diff, findings with the fix, the chart.
    let target = get(addr, "/target/example.com");
    assert_eq!(target.status, 200, "{}", target.body);
    assert!(
        target
            .body
            .contains("<span class=\"del\">- 0 issue &quot;letsencrypt.org&quot;</span>"),
        "{}",
        target.body
    );
    assert!(
        target
            .body
            .contains("<span class=\"add\">+ 0 issue &quot;sectigo.com&quot;</span>"),
        "{}",
        target.body
    );
    assert!(target.body.contains("caa_drift"), "{}", target.body);
    assert!(target.body.contains("fix: "), "{}", target.body);
    assert!(
        target.body.contains("<svg") && target.body.contains("<rect"),
        "{}",
        target.body
    );
    assert_eq!(get(addr, "/target/not-watched.example").status, 404);
    assert_eq!(get(addr, "/target/bad..name").status, 400);

    // The API: the very lines the CLI prints (one model, two renderings).
    // The daemon keeps recording (the order poller runs beside the domain
    // checks): compare only when the CLI's history did not move around the
    // API's read, so an event landing in between is not a false failure.
    loop {
        let before = bench.history();
        let api = get(addr, "/api/history");
        assert_eq!(api.status, 200);
        if bench.history() == before {
            assert_eq!(json_lines(&api.body), before);
            break;
        }
    }
    let api_status = json_lines(&get(addr, "/api/status").body);
    let cli_status = bench.status();
    assert_eq!(api_status.len(), cli_status.len());
    for (a, c) in api_status.iter().zip(&cli_status) {
        let mut keys_a: Vec<_> = a.as_object().unwrap().keys().collect();
        let mut keys_c: Vec<_> = c.as_object().unwrap().keys().collect();
        keys_a.sort();
        keys_c.sort();
        assert_eq!(keys_a, keys_c);
        assert_eq!(
            (&a["domain"], &a["verdict"], &a["since"]),
            (&c["domain"], &c["verdict"], &c["since"])
        );
    }
    let forbidden = json_lines(&get(addr, "/api/status?verdict=forbidden").body);
    assert_eq!(forbidden.len(), 1);
    assert_eq!(forbidden[0]["domain"], "example.com");
    let one = json_lines(&get(addr, "/api/history?domain=example.org").body);
    assert!(one.iter().all(|e| e["domain"] == "example.org") && !one.is_empty());
    assert_eq!(get(addr, "/api/history?since=yesterday").status, 400);
    assert_eq!(get(addr, "/api/alerts").status, 200);

    // The manual order: listed, and its page shows its timeline and needs.
    let orders = bench
        .wait_for("the order to be polled", || {
            Some(get(addr, "/orders")).filter(|o| o.body.contains("www-2026"))
        })
        .await;
    assert_eq!(orders.status, 200);
    let link = orders.body.split("href=\"/orders/").nth(1).unwrap();
    let id = &link[..link.find('"').unwrap()];
    let order = get(addr, &format!("/orders/{id}"));
    assert_eq!(order.status, 200, "{}", order.body);
    assert!(order.body.contains("Status timeline"), "{}", order.body);
    assert!(order.body.contains("What it needs"), "{}", order.body);
    // No alert channel is configured: the alerts page says so.
    assert_eq!(get(addr, "/orders/999").status, 404);
    assert_eq!(get(addr, "/orders/abc").status, 400);
    let alerts = get(addr, "/alerts");
    assert_eq!(alerts.status, 200);
    assert!(alerts.body.contains("no alerts yet"), "{}", alerts.body);
    assert_eq!(get(addr, "/style.css").status, 200);

    // Outside the routes: 404; nothing changes state: POST is refused.
    let missing = get(addr, "/nope");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("x-frame-options").unwrap(), "DENY");
    assert_eq!(request(addr, "POST", "/", None).status, 405);

    check_metrics(addr);
    daemon.terminate().await;
}

/// `/metrics` parses as the Prometheus text format, says what the store
/// holds, and passes `promtool check metrics` where it is installed.
fn check_metrics(addr: SocketAddr) {
    let m = get(addr, "/metrics");
    assert_eq!(m.status, 200);
    let lines = m.body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    assert_eq!(
        value(
            "certvigil_targets",
            &[("check", "caa"), ("verdict", "forbidden")]
        ),
        Some(1.0),
        "{}",
        m.body
    );
    assert_eq!(
        value(
            "certvigil_targets",
            &[("check", "caa"), ("verdict", "allowed")]
        ),
        Some(1.0),
        "{}",
        m.body
    );
    assert!(
        value("certvigil_checks_total", &[("outcome", "recorded")]).unwrap() >= 3.0,
        "{}",
        m.body
    );
    assert!(
        m.body.contains("certvigil_check_duration_seconds_bucket"),
        "{}",
        m.body
    );
    assert!(
        value("certvigil_last_cycle_completed_timestamp_seconds", &[]).unwrap() > 1.7e9,
        "{}",
        m.body
    );
    assert_eq!(
        value(
            "certvigil_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    let orders: f64 = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "certvigil_orders")
        .map(|s| match s.value {
            prometheus_parse::Value::Gauge(v) => v,
            _ => 0.0,
        })
        .sum();
    assert_eq!(orders, 1.0, "{}", m.body);
    // A scraper that asks for OpenMetrics gets it.
    let om = request_with(
        addr,
        "GET",
        "/metrics",
        "Accept: application/openmetrics-text; version=1.0.0\r\n",
    );
    assert!(
        om.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(om.body.trim_end().ends_with("# EOF"), "{}", om.body);
    let promtool = Path::new("/usr/bin/promtool");
    if !promtool.exists() {
        eprintln!(
            "promtool not installed (Debian package prometheus): skipping promtool check metrics"
        );
        return;
    }
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(m.body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        m.body
    );
}

#[tokio::test]
async fn a_listener_that_requires_a_token_answers_401_without_the_right_one() {
    let bench = DaemonBench::new();
    let dns = TestDns::start_sync();
    dns.set_logging(false);
    dns.set_caa(
        "example.com",
        [CaaRecord::new(0, "issue", "letsencrypt.org")],
    );
    let addr = free_addr();
    let token = bench.secret("web.token", "correct horse");
    std::fs::set_permissions(
        bench.path("web.token"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    bench.write_config(
        dns.addr(),
        &format!(
            "\n[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\n\n\
             [web]\nlisten = \"{addr}\"\nrequire_token = true\ntoken_file = \"{token}\"\n"
        ),
    );
    let daemon = bench.start();
    bench
        .wait_for("the web listener", || TcpStream::connect(addr).ok())
        .await;
    for path in ["/", "/metrics", "/api/status", "/nope"] {
        let none = request(addr, "GET", path, None);
        assert_eq!(none.status, 401, "{path}: {}", none.body);
        assert!(
            none.header("www-authenticate")
                .unwrap()
                .starts_with("Basic")
        );
        assert_eq!(none.header("x-frame-options").unwrap(), "DENY");
        assert_eq!(
            request(addr, "GET", path, Some("Bearer wrong horse")).status,
            401,
            "{path}"
        );
        assert_eq!(
            request(addr, "GET", path, Some("Bearer correct hors")).status,
            401,
            "{path}"
        );
    }
    assert_eq!(
        request(addr, "GET", "/", Some("Bearer correct horse")).status,
        200
    );
    // Basic auth, any user, the token as password: "me:correct horse".
    assert_eq!(
        request(
            addr,
            "GET",
            "/metrics",
            Some("Basic bWU6Y29ycmVjdCBob3JzZQ==")
        )
        .status,
        200
    );
    assert_eq!(
        request(addr, "GET", "/nope", Some("Bearer correct horse")).status,
        404
    );
    daemon.terminate().await;
}

fn chromium() -> Option<&'static Path> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
}

/// Headless Chromium with a fresh profile and nothing reaching outside.
fn browse(browser: &Path, profile: &Path, extra: &[&str], url: &str) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test]
async fn a_real_browser_shows_the_forbidden_target_as_blocking_with_its_diff() {
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED: no chromium binary (apt-get install chromium; scripts/test installs it)"
        );
        return;
    };
    let (bench, _dns, daemon, addr) = drifted("").await;
    let profile = bench.path("chromium-profile");
    let board = browse(
        browser,
        &profile,
        &["--dump-dom"],
        &format!("http://{addr}/"),
    );
    assert!(board.contains("Blocking issuance (1)"), "{board}");
    assert!(board.contains("forbidden (blocks)"), "{board}");
    let target = browse(
        browser,
        &profile,
        &["--dump-dom"],
        &format!("http://{addr}/target/example.com"),
    );
    assert!(target.contains("- 0 issue \"letsencrypt.org\""), "{target}");
    assert!(target.contains("+ 0 issue \"sectigo.com\""), "{target}");
    // A screenshot of the board (CERTVIGIL_SCREENSHOT names where: README's
    // docs/web-status.png is made this way), else into the temporary directory.
    let shot = std::env::var_os("CERTVIGIL_SCREENSHOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| bench.path("web-status.png"));
    browse(
        browser,
        &profile,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1000,700",
        ],
        &format!("http://{addr}/"),
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "no PNG at {}", shot.display());
    daemon.terminate().await;
}

/// One sample of a scrape, by name and labels.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[tokio::test]
async fn metrics_count_dns_queries_by_outcome_and_probes_by_vantage_and_result() {
    use std::net::Ipv4Addr;
    use support::dns::Behaviour;
    use support::site::TestSite;

    let dns = TestDns::start_sync();
    dns.set_logging(false);
    // Answered, with a validation path served over HTTP and HTTPS.
    dns.set_caa("site.example", [CaaRecord::new(0, "issue", "sectigo.com")]);
    dns.set_a("site.example", &[Ipv4Addr::LOCALHOST]);
    let site = TestSite::start("site.example");
    site.serve(
        "/.well-known/pki-validation/certvigil-probe.txt",
        "certvigil",
    );
    // A zone whose server fails; a name that does not exist.
    dns.set_caa(
        "broken.example",
        [CaaRecord::new(0, "issue", "sectigo.com")],
    );
    dns.set_behaviour("broken.example", Behaviour::Servfail);
    let addr = free_addr();
    let bench = DaemonBench::new();
    bench.write_config(
        dns.addr(),
        &format!(
            "\n[reach]\nhttp_port = {}\nhttps_port = {}\n\n\
             [[domains]]\nname = \"site.example\"\nca = [\"sectigo\"]\nvalidation_method = \"file\"\n\n\
             [[domains]]\nname = \"broken.example\"\nca = [\"sectigo\"]\n\n\
             [[domains]]\nname = \"gone.example\"\nca = [\"sectigo\"]\n\n\
             [web]\nlisten = \"{addr}\"\n",
            site.http.port(),
            site.https.port(),
        ),
    );
    let daemon = bench.start();
    bench
        .wait_for("site.example's reach state and the others checked", || {
            let status = bench.status();
            let reached = status
                .iter()
                .any(|l| l["domain"] == "site.example" && l["reach"]["verdict"].is_string());
            let checked = ["broken.example", "gone.example"].iter().all(|d| {
                status
                    .iter()
                    .any(|l| l["domain"] == *d && !l["verdict"].is_null())
            });
            (reached && checked).then_some(())
        })
        .await;
    let m = get(addr, "/metrics");
    assert_eq!(m.status, 200);
    let scrape =
        prometheus_parse::Scrape::parse(m.body.lines().map(|l| Ok(l.to_string()))).unwrap();
    let queries = |outcome| {
        sample(
            &scrape,
            "certvigil_dns_queries_total",
            &[("outcome", outcome)],
        )
        .unwrap_or(0.0)
    };
    assert!(queries("answer") >= 1.0, "{}", m.body);
    assert!(queries("nxdomain") >= 1.0, "{}", m.body);
    assert!(queries("servfail") >= 1.0, "{}", m.body);
    // Every outcome is exposed, counted or not, so a rate of 0 is a rate.
    assert_eq!(queries("timeout"), 0.0, "{}", m.body);
    assert!(
        m.body
            .contains("certvigil_dns_queries_total{outcome=\"timeout\"} 0")
    );
    // Both ports of site.example answered 200 from this host; the site saw
    // at least as many requests as the metric counts (it is read first).
    let probed = sample(
        &scrape,
        "certvigil_probes_total",
        &[("vantage", "local"), ("result", "http_2xx")],
    )
    .unwrap_or(0.0);
    assert!(probed >= 2.0, "{}", m.body);
    assert!(site.hits().len() as f64 >= probed, "{}", m.body);
    daemon.terminate().await;
}

/// Whether something accepts connections on `addr` now.
fn listening(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(5)).is_ok()
}

#[tokio::test]
async fn a_reloaded_web_section_moves_restarts_and_stops_the_listener_without_a_restart() {
    let dns = TestDns::start_sync();
    dns.set_logging(false);
    dns.set_caa(
        "example.org",
        [CaaRecord::new(0, "issue", "letsencrypt.org")],
    );
    let bench = DaemonBench::new();
    let token = bench.secret("web-token", "first token");
    let config = |web: &str| {
        bench.write_config(
            dns.addr(),
            &format!("\n[[domains]]\nname = \"example.org\"\nca = [\"letsencrypt\"]\n{web}"),
        )
    };
    let (first, second) = (free_addr(), free_addr());
    config(&format!("\n[web]\nlisten = \"{first}\"\n"));
    let mut daemon = bench.start();
    bench
        .wait_for("the web interface on the first address", || {
            (listening(first) && get(first, "/api/status").status == 200).then_some(())
        })
        .await;

    // Moved: the old port closes, the new one serves.
    config(&format!("\n[web]\nlisten = \"{second}\"\n"));
    daemon.signal("-HUP");
    bench
        .wait_for("the web interface on the second address", || {
            listening(second).then_some(())
        })
        .await;
    assert_eq!(get(second, "/api/status").status, 200);
    bench
        .wait_for("the first address to be closed", || {
            (!listening(first)).then_some(())
        })
        .await;

    // A token on the same address: the listener stays, the token applies.
    config(&format!(
        "\n[web]\nlisten = \"{second}\"\ntoken_file = \"{token}\"\nrequire_token = true\n"
    ));
    daemon.signal("-HUP");
    bench
        .wait_for("the token to be asked for", || {
            (get(second, "/").status == 401).then_some(())
        })
        .await;
    let bearer = |t: &str| request(second, "GET", "/", Some(&format!("Bearer {t}"))).status;
    assert_eq!(bearer("first token"), 200);
    // The token file changed: a reload reads it again.
    std::fs::write(&token, "second token\n").unwrap();
    daemon.signal("-HUP");
    bench
        .wait_for("the new token to be taken", || {
            (bearer("second token") == 200).then_some(())
        })
        .await;
    assert_eq!(bearer("first token"), 401);

    // A port another process holds: the reload is refused, the old
    // listener keeps serving.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap();
    config(&format!(
        "\n[web]\nlisten = \"{busy}\"\ntoken_file = \"{token}\"\nrequire_token = true\n"
    ));
    daemon.signal("-HUP");
    bench
        .wait_for("the refused reload in the log", || {
            bench
                .log_text()
                .contains("configuration reload refused")
                .then_some(())
        })
        .await;
    assert_eq!(bearer("second token"), 200);
    drop(taken);

    // No [web]: stopped.
    config("");
    daemon.signal("-HUP");
    bench
        .wait_for("the web interface to stop", || {
            (!listening(second)).then_some(())
        })
        .await;
    assert!(daemon.is_running());
    daemon.terminate().await;
}
