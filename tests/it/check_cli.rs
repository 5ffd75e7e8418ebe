//! `certvigil check`, the real binary against a real DNS server on loopback.
//! Each test builds a small zone, runs the binary and asserts its exit code
//! and its JSON Lines (the contract in docs/contracts.md) or text output.

use crate::support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use certvigil::checks::caa::CaaRecord;
use serde_json::Value;
use support::dns::{Behaviour, TestDns};

fn issue(v: &str) -> CaaRecord {
    CaaRecord::new(0, "issue", v)
}

fn run_check(dns: &TestDns, args: &[&str]) -> Output {
    run_check_stdin(dns, args, None)
}

fn run_check_stdin(dns: &TestDns, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_certvigil"))
        .arg("check")
        .args([
            "--nameserver",
            &dns.addr().to_string(),
            "--timeout",
            "300ms",
            // A TestDns serves no NS records: the authoritative view (tested
            // in authority.rs) would report every delegation unknown.
            "--view",
            "recursive",
        ])
        .args(args)
        .env_remove("CERTVIGIL_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start certvigil");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("certvigil ran")
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

#[test]
fn an_authorized_ca_is_allowed_and_exits_0() {
    let dns = TestDns::start_sync();
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    dns.set_a("www.example.com", &["192.0.2.1".parse().unwrap()]);
    let out = run_check(
        &dns,
        &["--ca", "letsencrypt", "--format", "json", "www.example.com"],
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    let r = &lines[0];
    assert_eq!(r["domain"], "www.example.com");
    assert_eq!(r["ca"]["name"], "letsencrypt");
    assert_eq!(r["ca"]["issuer_domains"][0], "letsencrypt.org");
    assert_eq!(r["issuable"], true);
    assert_eq!(r["caa"]["verdict"], "allowed");
    assert_eq!(r["caa"]["relevant_name"], "example.com");
    assert_eq!(r["caa"]["records"][0]["tag"], "issue");
    assert_eq!(r["caa"]["records"][0]["value"], "letsencrypt.org");
    assert_eq!(r["findings"].as_array().unwrap().len(), 0);
}

#[test]
fn an_unauthorized_ca_is_forbidden_with_the_fix_and_exits_1() {
    let dns = TestDns::start_sync();
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    let out = run_check(
        &dns,
        &["--ca", "sectigo", "--format", "json", "example.com"],
    );
    assert_eq!(code(&out), 1);
    let r = &json_lines(&out)[0];
    assert_eq!(r["issuable"], false);
    assert_eq!(r["caa"]["verdict"], "forbidden");
    assert_eq!(r["caa"]["relevant_name"], "example.com");
    let remedy = r["caa"]["remedy"].as_str().unwrap();
    assert!(
        remedy.contains(r#"example.com. CAA 0 issue "sectigo.com""#),
        "{remedy}"
    );
    assert_eq!(r["findings"][0]["check"], "caa");
    assert_eq!(r["findings"][0]["severity"], "blocking");
}

#[test]
fn a_policy_inherited_through_a_cname_names_the_alias() {
    // The FAQ case: a site CNAMEd to <user>.github.io takes github.io's policy.
    let dns = TestDns::start_sync();
    dns.set_cname("www.example.com", "example.github.io");
    dns.set_a("example.github.io", &["192.0.2.7".parse().unwrap()]);
    dns.set_caa("github.io", [issue("letsencrypt.org")]);
    dns.set_caa("example.github.io", [issue("letsencrypt.org")]);
    let out = run_check(
        &dns,
        &["--ca", "sectigo", "--format", "json", "www.example.com"],
    );
    assert_eq!(code(&out), 1);
    let r = &json_lines(&out)[0];
    assert_eq!(r["caa"]["verdict"], "forbidden");
    assert_eq!(r["caa"]["relevant_name"], "www.example.com");
    assert_eq!(
        r["caa"]["cname_chain"],
        serde_json::json!(["www.example.com", "example.github.io"])
    );
    let reason = r["caa"]["reason"].as_str().unwrap();
    assert!(reason.contains("example.github.io"), "{reason}");
    let remedy = r["caa"]["remedy"].as_str().unwrap();
    assert!(remedy.contains("CNAME"), "{remedy}");
}

#[test]
fn the_pre_erratum_reading_is_reported_when_it_differs() {
    // www.example.com is an alias of example.github.io, which has no CAA;
    // RFC 8659 climbs to example.com (allows sectigo), RFC 6844 climbed to
    // github.io (letsencrypt only).
    let dns = TestDns::start_sync();
    dns.set_cname("www.example.com", "example.github.io");
    dns.set_a("example.github.io", &["192.0.2.7".parse().unwrap()]);
    dns.set_caa("github.io", [issue("letsencrypt.org")]);
    dns.set_caa("example.com", [issue("sectigo.com")]);
    let out = run_check(
        &dns,
        &["--ca", "sectigo", "--format", "json", "www.example.com"],
    );
    assert_eq!(code(&out), 0);
    let r = &json_lines(&out)[0];
    assert_eq!(r["caa"]["verdict"], "allowed");
    assert_eq!(r["caa"]["relevant_name"], "example.com");
    assert_eq!(r["caa"]["legacy_rfc6844"]["verdict"], "forbidden");
    assert_eq!(r["caa"]["legacy_rfc6844"]["relevant_name"], "github.io");
}

#[test]
fn servfail_at_the_name_is_an_error_that_blocks() {
    let dns = TestDns::start_sync();
    dns.set_caa("example.com", [issue("sectigo.com")]);
    dns.set_behaviour("shop.example.com", Behaviour::Servfail);
    let out = run_check(
        &dns,
        &["--ca", "sectigo", "--format", "json", "shop.example.com"],
    );
    assert_eq!(code(&out), 1);
    let r = &json_lines(&out)[0];
    assert_eq!(r["caa"]["verdict"], "error");
    assert_eq!(r["caa"]["lookup_error"]["name"], "shop.example.com");
    assert_eq!(r["caa"]["lookup_error"]["failure"]["rcode"], "SERVFAIL");
    assert_eq!(r["issuable"], false);
}

/// Issue 13.5: the first resolver (say, a validating one that found the
/// zone bogus) SERVFAILs, the second would say "no CAA": the verdict is an
/// error naming the first server, never "allowed".
#[test]
fn a_servfail_from_the_first_resolver_is_not_hidden_by_the_second() {
    let first = TestDns::start_sync();
    first.set_behaviour("example.com", Behaviour::Servfail);
    let second = TestDns::start_sync();
    let out = Command::new(env!("CARGO_BIN_EXE_certvigil"))
        .arg("check")
        .args(["--nameserver", &first.addr().to_string()])
        .args(["--nameserver", &second.addr().to_string()])
        .args(["--timeout", "300ms", "--ca", "sectigo", "--format", "json"])
        .arg("example.com")
        .env_remove("CERTVIGIL_CONFIG")
        .output()
        .expect("certvigil ran");

    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let r = &json_lines(&out)[0];
    assert_eq!(r["caa"]["verdict"], "error");
    let failure = &r["caa"]["lookup_error"]["failure"];
    assert_eq!(failure["rcode"], "SERVFAIL");
    assert_eq!(failure["server"], first.addr().to_string());
    let reason = r["caa"]["reason"].as_str().unwrap();
    assert!(reason.contains(&first.addr().to_string()), "{reason}");
    assert_eq!(r["issuable"], false);
}

#[test]
fn a_silent_server_times_out_into_an_error_not_ok() {
    let dns = TestDns::start_sync();
    dns.set_behaviour("example.com", Behaviour::Silent);
    let out = run_check(
        &dns,
        &["--ca", "sectigo", "--format", "json", "example.com"],
    );
    assert_eq!(code(&out), 1);
    let r = &json_lines(&out)[0];
    assert_eq!(r["caa"]["verdict"], "error");
    assert_eq!(r["caa"]["lookup_error"]["failure"]["kind"], "timeout");
}

#[test]
fn thirty_records_come_back_whole_over_tcp() {
    let dns = TestDns::start_sync();
    let mut records: Vec<_> = (0..29)
        .map(|i| issue(&format!("ca{i}.example.net")))
        .collect();
    records.push(issue("sectigo.com"));
    dns.set_caa("big.example", records);
    let out = run_check(
        &dns,
        &["--ca", "sectigo", "--format", "json", "big.example"],
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let r = &json_lines(&out)[0];
    assert_eq!(r["caa"]["records"].as_array().unwrap().len(), 30);
    assert!(
        dns.queries().iter().any(|q| q.tcp),
        "the truncated answer was retried over TCP"
    );
}

#[test]
fn records_hickory_cannot_parse_are_kept_and_judged() {
    // A 16-octet tag (legal in RFC 8659, refused by hickory-proto) with the
    // critical flag: an unknown critical property forbids issuance.
    let dns = TestDns::start_sync();
    dns.set_caa(
        "example.org",
        [
            issue("sectigo.com"),
            CaaRecord::new(128, "someverylongtag1", "x"),
        ],
    );
    let out = run_check(
        &dns,
        &["--ca", "sectigo", "--format", "json", "example.org"],
    );
    assert_eq!(code(&out), 1);
    let r = &json_lines(&out)[0];
    assert_eq!(r["caa"]["verdict"], "forbidden");
    let tags: Vec<_> = r["caa"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["tag"].as_str().unwrap().to_string())
        .collect();
    assert!(tags.contains(&"someverylongtag1".to_string()), "{tags:?}");
}

#[test]
fn wildcards_are_judged_by_issuewild() {
    let dns = TestDns::start_sync();
    dns.set_caa(
        "example.net",
        [issue("sectigo.com"), CaaRecord::new(0, "issuewild", ";")],
    );
    let out = run_check(
        &dns,
        &[
            "--ca",
            "sectigo",
            "--format",
            "json",
            "example.net",
            "*.example.net",
        ],
    );
    assert_eq!(code(&out), 1);
    let lines = json_lines(&out);
    assert_eq!(lines[0]["domain"], "example.net");
    assert_eq!(lines[0]["caa"]["verdict"], "allowed");
    assert_eq!(lines[1]["domain"], "*.example.net");
    assert_eq!(lines[1]["caa"]["verdict"], "forbidden");
}

#[test]
fn unicode_names_are_checked_as_a_labels() {
    let dns = TestDns::start_sync();
    dns.set_caa("xn--bcher-kva.example", [issue("letsencrypt.org")]);
    let out = run_check(
        &dns,
        &["--ca", "letsencrypt", "--format", "json", "bücher.example"],
    );
    assert_eq!(code(&out), 0);
    let r = &json_lines(&out)[0];
    assert_eq!(r["domain"], "xn--bcher-kva.example");
    assert_eq!(r["caa"]["relevant_name"], "xn--bcher-kva.example");
}

#[test]
fn one_object_per_domain_and_ca_in_input_order() {
    let dns = TestDns::start_sync();
    dns.set_caa("a.example", [issue("letsencrypt.org")]);
    dns.set_caa("b.example", [issue("sectigo.com")]);
    let out = run_check(
        &dns,
        &[
            "--ca",
            "letsencrypt",
            "--ca",
            "sectigo.com",
            "--format",
            "json",
            "a.example",
            "b.example",
        ],
    );
    assert_eq!(code(&out), 1);
    let got: Vec<_> = json_lines(&out)
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["domain"].as_str().unwrap(),
                r["ca"]["name"].as_str().unwrap(),
                r["caa"]["verdict"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "a.example letsencrypt allowed",
            "a.example sectigo.com forbidden",
            "b.example letsencrypt forbidden",
            "b.example sectigo.com allowed",
        ]
    );
}

#[test]
fn a_bad_name_exits_2_without_stopping_the_others() {
    let dns = TestDns::start_sync();
    dns.set_caa("good.example", [issue("letsencrypt.org")]);
    let out = run_check(
        &dns,
        &[
            "--ca",
            "letsencrypt",
            "--format",
            "json",
            "bad..example",
            "good.example",
        ],
    );
    assert_eq!(code(&out), 2);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["domain"], "bad..example");
    assert!(lines[0]["error"].as_str().unwrap().contains("empty label"));
    assert_eq!(lines[1]["caa"]["verdict"], "allowed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"bad..example\""), "{stderr}");
}

/// Issue 13.6: `check 127.0.0.1` climbed `0.1`, `1` and said "no CAA,
/// allowed". IP addresses are refused (CAA is for domain names), exit 2,
/// and the other names of the run are still checked.
#[test]
fn ip_addresses_are_refused_with_exit_2_and_the_others_still_checked() {
    let dns = TestDns::start_sync();
    dns.set_caa("good.example", [issue("letsencrypt.org")]);
    let out = run_check(
        &dns,
        &[
            "--ca",
            "letsencrypt",
            "--format",
            "json",
            "127.0.0.1",
            "2001:db8::1",
            "[::1]",
            "good.example",
        ],
    );
    assert_eq!(code(&out), 2);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4);
    for (line, given) in lines.iter().zip(["127.0.0.1", "2001:db8::1", "[::1]"]) {
        assert_eq!(line["domain"], given);
        let error = line["error"].as_str().unwrap();
        assert!(
            error.contains("is an IP address") && error.contains("RFC 8659"),
            "{error}"
        );
    }
    assert_eq!(lines[3]["caa"]["verdict"], "allowed");
    // Nothing was asked about the addresses: only the good name's climb
    // and views, and the root's keys for DNSSEC.
    assert!(
        dns.queries()
            .iter()
            .all(|q| q.name.is_empty() || q.name.ends_with("example")),
        "{:?}",
        dns.queries()
    );
}

#[test]
fn a_retired_acme_method_is_refused_saying_so() {
    let dns = TestDns::start_sync();
    let out = run_check(
        &dns,
        &[
            "--ca",
            "letsencrypt",
            "--validation-method",
            "tls-sni-01",
            "example.com",
        ],
    );
    assert_eq!(code(&out), 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"tls-sni-01\" is a retired ACME validation method")
            && stderr.contains("tls-alpn-01"),
        "{stderr}"
    );
}

/// Issue 13.6: an ACME account has several URIs; a record bound to any of
/// them authorizes (RFC 8657 §3 compares each exactly).
#[test]
fn account_uri_is_repeatable_and_any_match_authorizes() {
    let dns = TestDns::start_sync();
    let reg = "https://acme-v01.api.letsencrypt.org/acme/reg/42";
    let acct = "https://acme-v02.api.letsencrypt.org/acme/acct/42";
    dns.set_caa(
        "example.com",
        [issue(&format!("letsencrypt.org; accounturi={reg}"))],
    );
    let with = |uris: &[&str]| {
        let mut args = vec!["--ca", "letsencrypt", "--format", "json"];
        for u in uris {
            args.extend(["--account-uri", u]);
        }
        args.push("example.com");
        run_check(&dns, &args)
    };

    let both = with(&[acct, reg]);
    assert_eq!(code(&both), 0, "{}", String::from_utf8_lossy(&both.stdout));
    assert_eq!(json_lines(&both)[0]["caa"]["verdict"], "allowed");

    let other = with(&[acct]);
    assert_eq!(code(&other), 1);
    assert_eq!(json_lines(&other)[0]["caa"]["verdict"], "forbidden");
}

/// Issue 12: `check xn--a.test` looked the name up; an A-label that does
/// not decode is refused, exit 2, with the reason.
#[test]
fn invalid_punycode_is_refused_with_exit_2() {
    let dns = TestDns::start_sync();
    let out = run_check(&dns, &["--ca", "letsencrypt", "xn--a.test"]);
    assert_eq!(code(&out), 2);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("\"xn--a.test\""), "{all}");
    assert!(all.contains("not valid punycode"), "{all}");
    assert!(
        dns.queries().is_empty(),
        "a refused name is not looked up: {:?}",
        dns.queries()
    );
}

#[test]
fn names_come_from_a_file_with_comments() {
    let dns = TestDns::start_sync();
    dns.set_caa("one.example", [issue("letsencrypt.org")]);
    dns.set_caa("two.example", [issue("letsencrypt.org")]);
    let list = "# names to renew\none.example\n\ntwo.example  # shop\n";
    let out = run_check_stdin(
        &dns,
        &["--ca", "letsencrypt", "--format", "json", "--file", "-"],
        Some(list),
    );
    assert_eq!(code(&out), 0);
    let domains: Vec<_> = json_lines(&out)
        .iter()
        .map(|r| r["domain"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(domains, ["one.example", "two.example"]);
}

#[test]
fn a_bad_byte_in_a_name_list_file_refuses_that_line_only() {
    let dns = TestDns::start_sync();
    dns.set_caa("one.example", [issue("letsencrypt.org")]);
    dns.set_caa("two.example", [issue("letsencrypt.org")]);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("names.txt");
    std::fs::write(&list, b"one.example\nbr\xf6ken.example\ntwo.example\n").unwrap();
    let out = run_check(
        &dns,
        &[
            "--ca",
            "letsencrypt",
            "--format",
            "json",
            "--file",
            list.to_str().unwrap(),
        ],
    );
    // 2: one input was refused; the others were checked.
    assert_eq!(code(&out), 2, "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["caa"]["verdict"], "allowed");
    assert_eq!(lines[1]["domain"], "br\u{fffd}ken.example");
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .contains("line 2 of the name list is not UTF-8"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2]["domain"], "two.example");
    assert_eq!(lines[2]["caa"]["verdict"], "allowed");
}

#[test]
fn an_unknown_ca_is_a_usage_error_naming_the_catalogue() {
    let dns = TestDns::start_sync();
    let out = run_check(&dns, &["--ca", "sectgo", "example.com"]);
    assert_eq!(code(&out), 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"sectgo\"") && stderr.contains("letsencrypt"),
        "{stderr}"
    );
}

#[test]
fn text_output_says_verdict_reason_and_fix() {
    let dns = TestDns::start_sync();
    dns.set_caa("example.com", [issue("letsencrypt.org")]);
    let out = run_check(&dns, &["--ca", "sectigo", "example.com"]);
    assert_eq!(code(&out), 1);
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("example.com") && first.contains("forbidden"),
        "{text}"
    );
    assert!(text.contains("fix:"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
}

#[test]
fn brand_names_carry_a_manual_review_warning_that_does_not_block() {
    let dns = TestDns::start_sync();
    dns.set_caa("example", [issue("letsencrypt.org")]);
    dns.set_caa("cn", [issue("letsencrypt.org")]);
    let out = run_check(
        &dns,
        &[
            "--ca",
            "letsencrypt",
            "--format",
            "json",
            "paypal-login.example",
            "tencent-cloud-verify.cn",
            "garden-shed.example",
        ],
    );
    assert_eq!(code(&out), 0, "a review risk is a warning, not a refusal");
    let lines = json_lines(&out);
    for r in &lines[..2] {
        assert_eq!(r["risk"]["level"], "high", "{r}");
        assert!(!r["risk"]["reasons"].as_array().unwrap().is_empty());
        let finding = &r["findings"][0];
        assert_eq!(finding["check"], "risk");
        assert_eq!(finding["severity"], "warning");
        assert!(
            finding["remedy"].as_str().unwrap().contains("OV"),
            "{finding}"
        );
        assert_eq!(r["issuable"], true);
    }
    assert_eq!(lines[2]["risk"]["level"], "low");
    assert_eq!(lines[2]["findings"].as_array().unwrap().len(), 0);
}

#[test]
fn own_brands_in_the_config_silence_the_warning() {
    let dns = TestDns::start_sync();
    dns.set_caa("example", [issue("letsencrypt.org")]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[risk]\nown_brands = [\"paypal\"]\n").unwrap();
    let out = run_check(
        &dns,
        &[
            "--ca",
            "letsencrypt",
            "--format",
            "json",
            "--config",
            config.to_str().unwrap(),
            "paypal-login.example",
        ],
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let r = &json_lines(&out)[0];
    assert_eq!(r["findings"].as_array().unwrap().len(), 0, "{r}");
}

/// Issue 11: `check --config F` with no names checked nothing and ignored
/// `wildcard = true`; now it checks every configured domain, `*.name` too.
#[test]
fn with_a_config_and_no_names_every_configured_domain_is_checked_wildcards_too() {
    let dns = TestDns::start_sync();
    dns.set_caa(
        "a.example",
        [
            issue("letsencrypt.org"),
            CaaRecord::new(0, "issuewild", ";"),
        ],
    );
    dns.set_caa("b.example", [issue("sectigo.com")]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[[domains]]\nname = \"a.example\"\nca = [\"letsencrypt\"]\nwildcard = true\n\n[[domains]]\nname = \"b.example\"\nca = [\"sectigo\", \"letsencrypt\"]\n",
    )
    .unwrap();
    let out = run_check(
        &dns,
        &["--format", "json", "--config", config.to_str().unwrap()],
    );
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let got: Vec<(String, String, String)> = json_lines(&out)
        .iter()
        .map(|r| {
            (
                r["domain"].as_str().unwrap().to_string(),
                r["ca"]["name"].as_str().unwrap().to_string(),
                r["caa"]["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("a.example", "letsencrypt", "allowed"),
        ("*.a.example", "letsencrypt", "forbidden"),
        ("b.example", "sectigo", "allowed"),
        ("b.example", "letsencrypt", "forbidden"),
    ];
    assert_eq!(
        got,
        want.map(|(d, c, v)| (d.to_string(), c.to_string(), v.to_string()))
    );
}

/// Issue 11: `check NAME` without `--ca` for a name the config does not
/// have said "bad name"; it is a usage mistake, said as one.
#[test]
fn a_name_without_a_ca_is_a_usage_error_that_says_to_pass_ca() {
    let dns = TestDns::start_sync();
    let out = run_check(&dns, &["--format", "json", "example.com"]);
    assert_eq!(code(&out), 2);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no CA to judge example.com for: pass --ca"),
        "{stderr}"
    );
    assert!(!stderr.contains("bad name"), "{stderr}");
    let text = run_check(&dns, &["example.com"]);
    assert_eq!(code(&text), 2);
    assert!(!String::from_utf8_lossy(&text.stdout).contains("bad name"));
}

#[test]
fn an_unknown_validation_method_is_refused_naming_the_accepted_ones() {
    let dns = TestDns::start_sync();
    let out = run_check(
        &dns,
        &[
            "--ca",
            "letsencrypt",
            "--validation-method",
            "http01",
            "example.com",
        ],
    );
    assert_eq!(code(&out), 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"http01\" is not a validation method") && stderr.contains("\"http-01\""),
        "{stderr}"
    );
}

/// Issue 12: a CAA tag holding ESC and "\n FORGED: all ok" reached the
/// terminal raw. Every text output escapes control characters from DNS data.
#[test]
fn control_characters_from_dns_are_escaped_in_text_output() {
    let dns = TestDns::start_sync();
    dns.set_caa(
        "evil.example",
        [
            CaaRecord::new(
                128,
                "x\u{1b}[31m\n FORGED: all ok",
                "v\u{1b}\n FORGED: all ok",
            ),
            CaaRecord::new(0, "issue", "sectigo.com"),
        ],
    );
    let out = run_check(&dns, &["--ca", "letsencrypt", "evil.example"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("FORGED")),
        "{text}"
    );
    assert!(text.contains("\\u{1b}"), "{text}");
}

/// Issue 15: one `check` run asks each question once. 100 names under one
/// parent send the parent's CAA question once, and every verdict is the
/// one the records give.
#[test]
fn one_run_asks_a_shared_parent_once() {
    let dns = TestDns::start_sync();
    dns.set_caa("shared.example", [issue("letsencrypt.org")]);
    let mut list = String::new();
    for i in 0..100 {
        let n = format!("n{i}.shared.example");
        if i % 10 == 0 {
            dns.set_caa(&n, [issue("digicert.com")]);
        }
        list.push_str(&n);
        list.push('\n');
    }
    let out = run_check_stdin(
        &dns,
        &["--ca", "letsencrypt", "--format", "json", "--file", "-"],
        Some(&list),
    );
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 100);
    for (i, r) in lines.iter().enumerate() {
        let want = if i % 10 == 0 { "forbidden" } else { "allowed" };
        assert_eq!(r["caa"]["verdict"], want, "n{i}: {r}");
    }
    let caa_asked = |q: &str| {
        dns.queries()
            .iter()
            .filter(|l| l.name == q && l.rtype == support::dns::rtype::CAA)
            .count()
    };
    assert_eq!(caa_asked("shared.example"), 1);
    assert_eq!(caa_asked("example"), 1);
    assert_eq!(caa_asked("n5.shared.example"), 1);
}

/// Issue 15: stdout is one buffer for the run, but a line still shows as
/// soon as no other result is ready: the first name's line arrives while
/// the second name's answer is still on its way.
#[test]
fn a_line_shows_while_a_later_name_is_still_checked() {
    use std::io::BufRead;
    use std::time::{Duration, Instant};
    let dns = TestDns::start_sync();
    dns.set_caa("fast.example", [issue("letsencrypt.org")]);
    dns.set_caa("slow.example", [issue("letsencrypt.org")]);
    dns.set_behaviour("slow.example", Behaviour::Delayed(Duration::from_secs(2)));
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_certvigil"))
        .args(["check", "--nameserver", &dns.addr().to_string()])
        .args(["--timeout", "5s", "--ca", "letsencrypt", "--format", "json"])
        .args(["fast.example", "slow.example"])
        .env_remove("CERTVIGIL_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start certvigil");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let first_at = started.elapsed();
    let second = lines.next().unwrap().unwrap();
    let second_at = started.elapsed();
    assert!(child.wait().unwrap().success());
    assert!(first.contains("\"fast.example\""), "{first}");
    assert!(second.contains("\"slow.example\""), "{second}");
    assert!(second_at >= Duration::from_secs(2), "{second_at:?}");
    assert!(
        first_at + Duration::from_millis(1500) <= second_at,
        "the first line waited for the second: {first_at:?} then {second_at:?}"
    );
}
