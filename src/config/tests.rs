//! Tests of the configuration contract: each mistake an operator can make
//! is reported with the right key, line and column.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use toml::de::{DeTable, DeValue};

use super::resolve::problems_of;
use super::*;

fn ok(text: &str) -> Config {
    match parse_with_state_directory(text, "config.toml", None) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

/// The single problem `text` has, rendered as `config.toml` would print it.
fn only_problem(text: &str) -> String {
    let problems = problems_of(text);
    assert_eq!(problems.len(), 1, "expected one problem, got {problems:#?}");
    problems[0].to_string()
}

const EXAMPLE: &str = include_str!("../../config.example.toml");

/// The example with its optional parts in use: `#key = value` and
/// `#[[section]]` lines (no space after `#`) are commented-out examples;
/// `# text` lines are prose.
fn example_in_full() -> String {
    EXAMPLE
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if !rest.is_empty() && !rest.starts_with([' ', '#']) => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_example_config_as_installed_has_no_channels_vantages_or_orders() {
    let config = ok(EXAMPLE);
    assert_eq!(config.domains.len(), 2);
    assert_eq!(config.alert_channel_count(), 0);
    assert!(config.vantage.is_empty() && config.providers.is_empty());
    assert!(config.orders.is_empty() && config.acme.is_empty());
    assert!(config.secret_sources().is_empty());
    assert!(config.dns.nameservers.is_empty());
    assert_eq!(config.web.listen, None);
    assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
}

#[test]
fn the_example_config_is_valid() {
    let config = ok(&example_in_full());
    assert_eq!(config.domains.len(), 2);
    assert_eq!(config.alert_channel_count(), 2);
    assert_eq!(config.vantage.len(), 4);
    assert_eq!(config.providers.len(), 2);
    assert_eq!(config.orders.len(), 2);
    assert_eq!(config.web.listen, Some("127.0.0.1:8470".parse().unwrap()));
    assert_eq!(
        config.dns.nameservers,
        vec!["127.0.0.1:53".parse::<std::net::SocketAddr>().unwrap()]
    );
    assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
    // The [[ca]] entry of the example is usable by name and alias.
    assert_eq!(
        config.catalogue.resolve("exlab").unwrap().issuer_domains[0].as_str(),
        "ca.example.net"
    );
}

/// Records the field names serde asks for, without deserializing anything:
/// the struct definitions are the list of keys the example must show.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    assert!(!fields.is_empty());
    fields
}

/// Key paths present in a document, arrays written `[]`: `domains[].name`.
fn key_paths(prefix: &str, value: &DeValue<'_>, out: &mut BTreeSet<String>) {
    match value {
        DeValue::Table(t) => {
            for (k, v) in t.iter() {
                let path = if prefix.is_empty() {
                    k.get_ref().to_string()
                } else {
                    format!("{prefix}.{}", k.get_ref())
                };
                out.insert(path.clone());
                key_paths(&path, v.get_ref(), out);
            }
        }
        DeValue::Array(a) => {
            for item in a.iter() {
                key_paths(&format!("{prefix}[]"), item.get_ref(), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_example_config_shows_every_key() {
    let full = example_in_full();
    let root = DeTable::parse(&full).unwrap();
    let mut present = BTreeSet::new();
    key_paths("", &DeValue::Table(root.into_inner()), &mut present);
    let tables: &[(&str, &[&str])] = &[
        ("", raw::SECTIONS),
        ("daemon", fields_of::<raw::RawDaemon>()),
        ("dns", fields_of::<raw::RawDns>()),
        ("domains[]", fields_of::<raw::RawDomain>()),
        ("alerts", fields_of::<raw::RawAlerts>()),
        ("alerts.email[]", fields_of::<raw::RawEmail>()),
        ("alerts.webhook[]", fields_of::<raw::RawWebhook>()),
        ("reach", fields_of::<raw::RawReach>()),
        ("vantage[]", fields_of::<raw::RawVantage>()),
        ("vantage[].locations[]", fields_of::<raw::RawLocation>()),
        ("providers[]", fields_of::<raw::RawProvider>()),
        ("orders[]", fields_of::<raw::RawOrder>()),
        (
            "orders[].validation",
            fields_of::<raw::RawOrderValidation>(),
        ),
        ("order_thresholds", fields_of::<raw::RawOrderThresholds>()),
        (
            "risk",
            fields_of::<certvigil_core::checks::risk::RiskConfig>(),
        ),
        ("ca[]", fields_of::<crate::ca::CaEntry>()),
        ("web", fields_of::<super::web::RawWeb>()),
        (
            "globalping",
            fields_of::<super::globalping::RawGlobalping>(),
        ),
        ("dnssec", fields_of::<super::dnssec::RawDnssec>()),
    ];
    let mut missing = Vec::new();
    for (table, fields) in tables {
        for field in *fields {
            let path = if table.is_empty() {
                field.to_string()
            } else {
                format!("{table}.{field}")
            };
            // Alternatives that cannot be set beside their twin (password_env
            // beside password_file) may be shown commented out.
            let commented = EXAMPLE
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("# {field} = ")));
            if !present.contains(&path) && !commented {
                missing.push(path);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "config.example.toml does not show: {missing:?}"
    );
}

#[test]
fn an_empty_file_gives_the_defaults() {
    let config = ok("");
    assert_eq!(config.daemon.database, Path::new("./certvigil.db"));
    assert_eq!(config.daemon.schedule.as_str(), DEFAULT_SCHEDULE);
    assert_eq!(config.daemon.concurrency, 64);
    assert_eq!(config.alerts.reminder, Some(Duration::from_secs(86_400)));
    assert_eq!(config.alerts.error_threshold, 3);
    assert_eq!(config.alerts.give_up_after, Duration::from_secs(86_400));
    assert_eq!(config.reach.http_port, 80);
    assert_eq!(config.reach.https_port, 443);
    assert!(config.dns.nameservers.is_empty());
    assert_eq!(config.alert_channel_count(), 0);
}

#[test]
fn the_database_defaults_to_the_first_state_directory() {
    assert_eq!(default_database_path(None), Path::new("./certvigil.db"));
    assert_eq!(
        default_database_path(Some(OsStr::new("/var/lib/certvigil"))),
        Path::new("/var/lib/certvigil/certvigil.db")
    );
    assert_eq!(
        default_database_path(Some(OsStr::new("/var/lib/certvigil:/var/lib/other"))),
        Path::new("/var/lib/certvigil/certvigil.db")
    );
    assert_eq!(
        default_database_path(Some(OsStr::new(""))),
        Path::new("./certvigil.db")
    );
    let config = parse_with_state_directory("", "c.toml", Some(OsStr::new("/srv/state"))).unwrap();
    assert_eq!(config.database_path(), Path::new("/srv/state/certvigil.db"));
    // An explicit path wins over STATE_DIRECTORY.
    let config = parse_with_state_directory(
        "[daemon]\ndatabase = \"/tmp/x.db\"\n",
        "c.toml",
        Some(OsStr::new("/srv/state")),
    )
    .unwrap();
    assert_eq!(config.database_path(), Path::new("/tmp/x.db"));
}

#[test]
fn an_unknown_key_is_reported_at_the_key() {
    let text = "[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\nwildcrd = true\n";
    let msg = only_problem(text);
    assert!(
        msg.starts_with("config.toml:4:1: domains[0].wildcrd: unknown field `wildcrd`"),
        "{msg}"
    );
}

#[test]
fn an_unknown_section_is_reported() {
    let msg = only_problem("[alert]\nreminder = \"1h\"\n");
    assert!(
        msg.starts_with("config.toml:1:2: alert: unknown section \"alert\""),
        "{msg}"
    );
}

#[test]
fn a_wrong_type_is_reported_at_the_value() {
    let msg = only_problem("[daemon]\nconcurrency = \"many\"\n");
    assert!(
        msg.starts_with("config.toml:2:15: daemon.concurrency: invalid type: string"),
        "{msg}"
    );
}

#[test]
fn an_unknown_validation_method_is_reported_with_the_accepted_values() {
    // Issue 11: "carrier-pigeon" was accepted, and "http01" silently
    // turned reach probing off.
    for given in ["carrier-pigeon", "http01"] {
        let text = format!(
            "[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\nvalidation_method = \"{given}\"\n"
        );
        let msg = only_problem(&text);
        assert!(
            msg.starts_with(&format!(
                "config.toml:4:21: domains[0].validation_method: \"{given}\" is not a validation method"
            )),
            "{msg}"
        );
        assert!(
            msg.contains("\"file\", \"dns\", \"http-01\", \"dns-01\", \"tls-alpn-01\""),
            "{msg}"
        );
    }
}

#[test]
fn validation_methods_are_typed_once_in_the_config() {
    use certvigil_core::method::{AcmeMethod, ValidationMethod};
    let config = ok(
        "[[domains]]\nname = \"a.example\"\nca = [\"sectigo\"]\nvalidation_method = \"FILE\"\n\n[[domains]]\nname = \"b.example\"\nca = [\"letsencrypt\"]\nvalidation_method = \"http-01\"\n",
    );
    assert_eq!(
        config.domains[0].validation_method,
        Some(ValidationMethod::File)
    );
    assert_eq!(
        config.domains[1].validation_method,
        Some(ValidationMethod::Acme(AcmeMethod::Http01))
    );
}

#[test]
fn a_syntax_error_has_a_line_and_column() {
    let msg = only_problem("[dns]\ntimeout = \"5s\n");
    assert!(msg.starts_with("config.toml:2:"), "{msg}");
}

#[test]
fn a_bad_duration_says_how_to_write_one() {
    let msg = only_problem("[alerts]\nreminder = \"a day\"\n");
    assert!(
        msg.starts_with("config.toml:2:12: alerts.reminder: \"a day\" is not a duration"),
        "{msg}"
    );
    assert!(msg.contains("\"24h\""), "{msg}");
}

#[test]
fn a_reminder_can_be_turned_off() {
    assert_eq!(ok("[alerts]\nreminder = \"off\"\n").alerts.reminder, None);
}

#[test]
fn a_bad_cron_is_reported_with_its_key() {
    let text =
        "[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\nschedule = \"*/5 * * * *\"\n";
    let msg = only_problem(text);
    assert!(
        msg.starts_with(
            "config.toml:4:12: domains[0].schedule: \"*/5 * * * *\" is not a cron schedule"
        ),
        "{msg}"
    );
}

#[test]
fn an_unknown_ca_is_reported_at_its_array_element() {
    let text = "[[domains]]\nname = \"a.example\"\nca = [\"letsencrypt\"]\n\n[[domains]]\nname = \"b.example\"\nca = [\"sectgo\"]\n";
    let msg = only_problem(text);
    assert!(
        msg.starts_with(
            "config.toml:7:7: domains[1].ca[0]: unknown CA \"sectgo\": use a catalogue name ("
        ),
        "{msg}"
    );
    assert!(msg.contains("sectigo"), "{msg}");
}

#[test]
fn an_invalid_domain_is_reported() {
    let msg = only_problem("[[domains]]\nname = \"exa mple.com\"\nca = [\"letsencrypt\"]\n");
    assert!(
        msg.starts_with("config.toml:2:8: domains[0].name: \"exa mple.com\" is not a domain name"),
        "{msg}"
    );
}

#[test]
fn unicode_names_become_a_labels_and_wildcard_adds_a_name() {
    let config =
        ok("[[domains]]\nname = \"Bücher.example\"\nca = [\"sectigo.com\"]\nwildcard = true\n");
    let names: Vec<String> = config.domains[0]
        .cert_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, ["xn--bcher-kva.example", "*.xn--bcher-kva.example"]);
    assert_eq!(config.domains[0].ca[0].name, "sectigo.com");
}

#[test]
fn a_domain_watched_twice_is_reported_at_the_second() {
    let text = "[[domains]]\nname = \"example.com\"\nwildcard = true\nca = [\"letsencrypt\"]\n[[domains]]\nname = \"*.EXAMPLE.com\"\nca = [\"sectigo\"]\n";
    let msg = only_problem(text);
    assert!(
        msg.starts_with("config.toml:6:8: domains[1].name: *.example.com is already watched by domains[0] (line 2)"),
        "{msg}"
    );
}

#[test]
fn a_domain_needs_a_ca() {
    let msg = only_problem("[[domains]]\nname = \"example.com\"\nca = []\n");
    assert!(
        msg.starts_with("config.toml:3:6: domains[0].ca: no CA given"),
        "{msg}"
    );
    let msg = only_problem("[[domains]]\nname = \"example.com\"\n");
    assert!(msg.contains("domains[0]: missing field `ca`"), "{msg}");
}

#[test]
fn an_email_without_recipients_is_reported() {
    let text = "[[alerts.email]]\nserver = \"127.0.0.1\"\nfrom = \"certvigil@example.com\"\n";
    let msg = only_problem(text);
    assert!(msg.contains("alerts.email[0].to: no recipients"), "{msg}");
}

#[test]
fn email_defaults_follow_tls() {
    let text = "[[alerts.email]]\nserver = \"smtp.example.com\"\ntls = \"tls\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n";
    let email = &ok(text).alerts.email[0];
    assert_eq!(email.port, 465);
    assert_eq!(email.tls, SmtpTls::Tls);
}

#[test]
fn a_secret_has_one_source() {
    let text = "[[alerts.webhook]]\nurl = \"https://hooks.example.com/x\"\nsecret_file = \"/etc/s\"\nsecret_env = \"S\"\n";
    let msg = only_problem(text);
    assert!(
        msg.starts_with("config.toml:4:14: alerts.webhook[0].secret_env: both secret_file and secret_env are set"),
        "{msg}"
    );
    let text = "[[alerts.webhook]]\nurl = \"https://hooks.example.com/x\"\nsecret_env = \"CERTVIGIL_HOOK\"\n";
    let hook = &ok(text).alerts.webhook[0];
    assert_eq!(
        hook.secret.as_ref().unwrap().location,
        SecretLocation::Env("CERTVIGIL_HOOK".into())
    );
}

#[test]
fn a_password_in_the_clear_is_a_warning() {
    let text = "[[alerts.email]]\nserver = \"smtp.example.com\"\ntls = \"none\"\nusername = \"u\"\npassword_file = \"/p\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n";
    let config = ok(text);
    assert_eq!(config.warnings.len(), 1, "{:#?}", config.warnings);
    assert!(
        config.warnings[0]
            .to_string()
            .starts_with("config.toml:3:7: alerts.email[0].tls:")
    );
}

#[test]
fn nameservers_take_a_default_port() {
    let config =
        ok("[dns]\nnameservers = [\"192.0.2.1\", \"[2001:db8::1]:5353\", \"2001:db8::2\"]\n");
    let got: Vec<String> = config
        .dns
        .nameservers
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(
        got,
        ["192.0.2.1:53", "[2001:db8::1]:5353", "[2001:db8::2]:53"]
    );
    let msg = only_problem("[dns]\nnameservers = [\"dns.google\"]\n");
    assert!(
        msg.starts_with("config.toml:2:16: dns.nameservers[0]:"),
        "{msg}"
    );
}

#[test]
fn every_problem_in_a_file_is_reported_in_file_order() {
    let text = r#"[daemon]
schedule = "every minute"
concurrency = 0

[[domains]]
name = "example.com"
ca = ["nosuchca"]

[[domains]]
name = "a..example"
ca = "letsencrypt"

[alerts]
give_up_after = "soon"
"#;
    let problems = problems_of(text);
    let keys: Vec<(usize, &str)> = problems
        .iter()
        .map(|p| (p.location.as_ref().unwrap().line, p.key.as_deref().unwrap()))
        .collect();
    assert_eq!(
        keys,
        [
            (2, "daemon.schedule"),
            (3, "daemon.concurrency"),
            (7, "domains[0].ca[0]"),
            (11, "domains[1].ca"),
            (14, "alerts.give_up_after"),
        ]
    );
}

#[test]
fn orders_are_typed() {
    let config = ok(&example_in_full());
    let order = &config.orders[0];
    assert_eq!(order.ca.name, "sectigo");
    assert_eq!(
        order.placed_at.unwrap().to_rfc3339(),
        "2026-11-20T10:00:00+08:00"
    );
    match &order.validation {
        Some(OrderValidation::Dns {
            record,
            record_type,
            ..
        }) => {
            assert_eq!(record.as_str(), "_dnsauth.www.example.com");
            assert_eq!(*record_type, ValidationRecordType::Txt);
        }
        other => panic!("expected DNS validation, got {other:?}"),
    }
    let msg = only_problem(
        "[[orders]]\nname = \"o\"\nca = \"sectigo\"\ndomains = [\"a.example\"]\nvalidation = { method = \"dns\", value = \"v\" }\n",
    );
    assert!(
        msg.contains("orders[0].validation.record: method \"dns\" needs record"),
        "{msg}"
    );
}

#[test]
fn an_agent_vantage_needs_a_url_and_pins_by_fingerprint() {
    let problems = all_problems(
        "[[vantage]]\nname = \"a\"\nkind = \"agent\"\ntoken_env = \"T\"\noverseas = true\n",
    );
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("config.toml:3:8: vantage[0].url: this kind needs url"),
        "{problems:#?}"
    );

    let fp = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let config = ok(&format!(
        "[[vantage]]\nname = \"a\"\nkind = \"agent\"\nurl = \"https://probe.example.net:8443/\"\ntls_fingerprint = \"{fp}\"\noverseas = true\n"
    ));
    let VantageAccess::Agent {
        url,
        tls_fingerprint,
        ..
    } = &config.vantage[0].access
    else {
        panic!("{:?}", config.vantage[0]);
    };
    assert_eq!(url.as_str(), "https://probe.example.net:8443/");
    assert_eq!(tls_fingerprint.unwrap().to_string(), fp);

    let problems = all_problems(
        "[[vantage]]\nname = \"a\"\nkind = \"agent\"\nurl = \"https://probe.example.net/\"\ntls_fingerprint = \"sha256:0011\"\noverseas = true\n\
         [[vantage]]\nname = \"p\"\nkind = \"proxy\"\nurl = \"socks5h://127.0.0.1:1080\"\ntls_fingerprint = \"sha256:0011\"\noverseas = true\n\
         [[vantage]]\nname = \"h\"\nkind = \"agent\"\nurl = \"http://probe.example.net/\"\ntls_fingerprint = \"sha256:0011\"\noverseas = true\n",
    );
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].starts_with(
            "config.toml:5:19: vantage[0].tls_fingerprint: \"sha256:0011\" is not a SHA-256 fingerprint"
        ),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with(
            "config.toml:11:19: vantage[1].tls_fingerprint: only an agent vantage point pins a certificate"
        ),
        "{problems:#?}"
    );
    assert!(
        problems[2].starts_with(
            "config.toml:17:19: vantage[2].tls_fingerprint: a pinned certificate needs an https:// url"
        ),
        "{problems:#?}"
    );

    // Plain HTTP to an agent elsewhere: the token crosses in clear.
    let warnings = warnings_of(
        "[[vantage]]\nname = \"a\"\nkind = \"agent\"\nurl = \"http://probe.example.net:8080/\"\noverseas = true\n\
         [[vantage]]\nname = \"l\"\nkind = \"agent\"\nurl = \"http://127.0.0.1:8080/\"\noverseas = true\n",
    );
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].starts_with(
            "config.toml:4:7: vantage[0].url: an agent over http:// sends its bearer token in clear"
        ),
        "{warnings:#?}"
    );
}

#[test]
fn a_proxy_vantage_needs_a_url_and_unique_names() {
    let text = "[[vantage]]\nname = \"p\"\nkind = \"proxy\"\noverseas = true\n[[vantage]]\nname = \"p\"\nkind = \"local\"\n";
    let problems = problems_of(text);
    let rendered: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(rendered.len(), 2, "{rendered:#?}");
    assert!(
        rendered[0].starts_with("config.toml:3:8: vantage[0].url: this kind needs url"),
        "{rendered:#?}"
    );
    assert!(
        rendered[1].starts_with(
            "config.toml:6:8: vantage[1].name: \"p\" is already the name of vantage[0]"
        ),
        "{rendered:#?}"
    );
}

#[test]
fn a_webhook_url_is_never_echoed() {
    let text = "[[alerts.webhook]]\nurl = \"ftp://hooks.example.com/T0KEN-SECRET\"\n";
    let msg = only_problem(text);
    assert!(msg.contains("alerts.webhook[0].url"), "{msg}");
    assert!(!msg.contains("T0KEN-SECRET"), "{msg}");
}

#[test]
fn an_unknown_key_does_not_hide_other_mistakes_in_its_table() {
    let text = "[[domains]]\nname = \"example.com\"\nca = [\"sectgo\"]\ncolour = \"blue\"\nwildcard = \"yes\"\n";
    let keys: Vec<String> = problems_of(text)
        .iter()
        .map(|p| p.key.clone().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "domains[0].ca[0]",
            "domains[0].colour",
            "domains[0].wildcard"
        ]
    );
    // A required key with the wrong type is reported once, not again as missing.
    let msg = only_problem("[[domains]]\nname = 5\nca = [\"letsencrypt\"]\n");
    assert!(
        msg.starts_with("config.toml:2:8: domains[0].name: invalid type: integer"),
        "{msg}"
    );
}

#[test]
fn a_secret_written_where_a_variable_name_belongs_is_not_echoed() {
    let text =
        "[[alerts.webhook]]\nurl = \"https://hooks.example.com/x\"\nsecret_env = \"s3cr3t!pass\"\n";
    let msg = only_problem(text);
    assert!(
        msg.starts_with("config.toml:3:14: alerts.webhook[0].secret_env:"),
        "{msg}"
    );
    assert!(!msg.contains("s3cr3t"), "{msg}");
}

/// Each problem of `text`, rendered.
fn all_problems(text: &str) -> Vec<String> {
    problems_of(text).iter().map(ToString::to_string).collect()
}

/// The warnings of a valid `text`, rendered.
fn warnings_of(text: &str) -> Vec<String> {
    ok(text).warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn the_example_shows_vantage_locations_acme_and_thresholds() {
    let config = ok(&example_in_full());
    let gp = config
        .vantage
        .iter()
        .find(|v| v.kind() == VantageKind::Globalping)
        .unwrap();
    let VantageAccess::Globalping {
        endpoint,
        locations,
        ..
    } = &gp.access
    else {
        panic!("{gp:?}");
    };
    assert_eq!(*endpoint, None);
    assert_eq!(gp.region.as_deref(), Some("worldwide"));
    assert_eq!(
        *locations,
        [
            GlobalpingLocation::Country("DE".into()),
            GlobalpingLocation::Continent("NA".into()),
            GlobalpingLocation::City("Tokyo".into()),
            GlobalpingLocation::Asn(3320),
            GlobalpingLocation::Magic("Singapore".into()),
        ]
    );
    let acme = config.acme_provider("acme-example").unwrap();
    assert_eq!(acme.ca.as_ref().unwrap().name, "letsencrypt");
    assert_eq!(acme.challenge, Some(AcmeChallenge::Dns01));
    assert_eq!(
        acme.directory.as_ref().unwrap().as_str(),
        "https://acme.example/directory"
    );
    assert_eq!(acme.orders.len(), 1);
    assert_eq!(acme.orders[0].name, "api-2026");
    assert_eq!(
        acme.orders[0].url.as_str(),
        "https://acme.example/acme/order/456"
    );
    // The ACME order is not a manual one.
    assert!(config.orders.iter().all(|o| o.name != "api-2026"));
    // The example says its [order_thresholds] are the defaults.
    assert_eq!(
        config.order_thresholds,
        certvigil_core::orders::judge::Thresholds::default()
    );
    assert!(
        config
            .secret_sources()
            .iter()
            .any(|s| s.key == "providers[1].account_key_file")
    );
}

#[test]
fn a_globalping_vantage_takes_a_region_and_locations() {
    let config = ok(r#"[[vantage]]
name = "gp"
kind = "globalping"
url = "http://127.0.0.1:8080/"
region = " eu-central "
locations = [{ country = "de" }, { continent = "eu" }, { city = "Frankfurt" }, { asn = 3320 }, { magic = "aws-eu-central-1" }]
token_env = "CERTVIGIL_GP_TOKEN"
overseas = true
"#);
    let v = &config.vantage[0];
    assert_eq!(v.region.as_deref(), Some("eu-central"));
    let VantageAccess::Globalping {
        endpoint,
        locations,
        ..
    } = &v.access
    else {
        panic!("{v:?}");
    };
    assert_eq!(
        endpoint.as_ref().unwrap().as_str(),
        "http://127.0.0.1:8080/"
    );
    assert_eq!(
        *locations,
        [
            GlobalpingLocation::Country("DE".into()),
            GlobalpingLocation::Continent("EU".into()),
            GlobalpingLocation::City("Frankfurt".into()),
            GlobalpingLocation::Asn(3320),
            GlobalpingLocation::Magic("aws-eu-central-1".into()),
        ]
    );
    assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
    // Absent locations: empty here, the defaults at probe time.
    let config = ok("[[vantage]]\nname = \"gp\"\nkind = \"globalping\"\noverseas = true\n");
    assert!(matches!(
        &config.vantage[0].access,
        VantageAccess::Globalping { locations, .. } if locations.is_empty()
    ));
    assert_eq!(config.vantage[0].region, None);
}

#[test]
fn a_location_selects_by_exactly_one_key() {
    let head = "[[vantage]]\nname = \"gp\"\nkind = \"globalping\"\noverseas = true\n";
    let msg = only_problem(&format!(
        "{head}locations = [{{ country = \"DE\" }}, {{ country = \"JP\", city = \"Tokyo\" }}]\n"
    ));
    assert!(
        msg.starts_with("config.toml:5:34: vantage[0].locations[1]: a location selects by one key, this one has country and city"),
        "{msg}"
    );
    let msg = only_problem(&format!("{head}locations = [{{}}]\n"));
    assert!(
        msg.starts_with("config.toml:5:14: vantage[0].locations[0]: an empty location"),
        "{msg}"
    );
    let msg = only_problem(&format!("{head}locations = []\n"));
    assert!(
        msg.starts_with("config.toml:5:13: vantage[0].locations: no locations"),
        "{msg}"
    );
    let msg = only_problem(&format!(
        "{head}locations = [{{ country = \"DE\", region = \"x\" }}]\n"
    ));
    assert!(
        msg.starts_with("config.toml:5:32: vantage[0].locations[0].region: unknown field `region`"),
        "{msg}"
    );
}

#[test]
fn location_values_are_checked() {
    let head = "[[vantage]]\nname = \"gp\"\nkind = \"globalping\"\noverseas = true\n";
    let problems = all_problems(&format!(
        "{head}locations = [{{ country = \"Germany\" }}, {{ continent = \"EUR\" }}, {{ asn = 0 }}, {{ city = \" \" }}, {{ magic = \"\" }}, {{ asn = -5 }}]\n"
    ));
    assert_eq!(problems.len(), 6, "{problems:#?}");
    assert!(
        problems[0].starts_with(
            "config.toml:5:26: vantage[0].locations[0].country: \"Germany\" is not a country code"
        ),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with(
            "config.toml:5:53: vantage[0].locations[1].continent: \"EUR\" is not a continent code"
        ),
        "{problems:#?}"
    );
    assert!(
        problems[2].starts_with("config.toml:5:70: vantage[0].locations[2].asn: AS 0 is reserved"),
        "{problems:#?}"
    );
    assert!(
        problems[3]
            .starts_with("config.toml:5:84: vantage[0].locations[3].city: the city is empty"),
        "{problems:#?}"
    );
    assert!(
        problems[4]
            .starts_with("config.toml:5:101: vantage[0].locations[4].magic: the magic is empty"),
        "{problems:#?}"
    );
    assert!(
        problems[5].starts_with("config.toml:5:115: vantage[0].locations[5].asn: invalid value"),
        "{problems:#?}"
    );
}

#[test]
fn an_overseas_globalping_vantage_may_not_name_the_mainland() {
    let msg = only_problem(
        "[[vantage]]\nname = \"gp\"\nkind = \"globalping\"\noverseas = true\nlocations = [{ country = \"cn\" }]\n",
    );
    assert!(
        msg.starts_with("config.toml:5:26: vantage[0].locations[0].country: CN is the mainland"),
        "{msg}"
    );
    // A domestic Globalping point may.
    ok(
        "[[vantage]]\nname = \"home\"\nkind = \"local\"\noverseas = true\n[[vantage]]\nname = \"gp-cn\"\nkind = \"globalping\"\nlocations = [{ country = \"CN\" }]\n",
    );
    // A continent that holds the mainland is a warning.
    let warnings = warnings_of(
        "[[vantage]]\nname = \"gp\"\nkind = \"globalping\"\noverseas = true\nlocations = [{ continent = \"AS\" }]\n",
    );
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].starts_with("config.toml:5:28: vantage[0].locations[0].continent: continent AS includes probes in the mainland"),
        "{warnings:#?}"
    );
    // The default locations are abroad: overseas = false contradicts them.
    let warnings = warnings_of(
        "[[vantage]]\nname = \"home\"\nkind = \"local\"\noverseas = true\n[[vantage]]\nname = \"gp\"\nkind = \"globalping\"\n",
    );
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].starts_with("config.toml:7:8: vantage[1].overseas: without locations, Globalping probes from DE, US, JP"),
        "{warnings:#?}"
    );
}

#[test]
fn locations_region_and_token_belong_to_the_right_kinds() {
    let text = r#"[[vantage]]
name = "p"
kind = "proxy"
url = "socks5h://127.0.0.1:1080"
locations = [{ country = "DE" }]
token_file = "/etc/certvigil/p.token"
region = ""
overseas = true
[[vantage]]
name = "home"
kind = "local"
token_env = "TOKEN"
"#;
    let problems = all_problems(text);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0].starts_with(
            "config.toml:5:13: vantage[0].locations: only a globalping vantage point has locations"
        ),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with(
            "config.toml:6:14: vantage[0].token_file: a proxy vantage point has no token"
        ),
        "{problems:#?}"
    );
    assert!(
        problems[2].starts_with("config.toml:7:10: vantage[0].region: the region is empty"),
        "{problems:#?}"
    );
    assert!(
        problems[3].starts_with(
            "config.toml:12:13: vantage[1].token_env: a local vantage point has no token"
        ),
        "{problems:#?}"
    );
}

const ACME: &str = r#"[[providers]]
name = "le"
kind = "acme"
endpoint = "https://acme.example/directory"
account_key_file = "/etc/certvigil/acme.key"
ca = "letsencrypt"
"#;

#[test]
fn an_acme_provider_takes_its_account_ca_and_challenge() {
    let config = ok(&format!(
        "{ACME}account_url = \"https://acme.example/acme/acct/1\"\nchallenge = \"tls-alpn-01\"\n[[orders]]\nname = \"o\"\nprovider = \"le\"\nurl = \"https://acme.example/acme/order/1\"\n"
    ));
    assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
    assert_eq!(config.providers[0].kind, ProviderKind::Acme);
    let acme = &config.acme[0];
    assert_eq!(acme.name, "le");
    assert_eq!(
        acme.account_key.as_ref().unwrap().location,
        SecretLocation::File("/etc/certvigil/acme.key".into())
    );
    assert_eq!(
        acme.account_url.as_ref().unwrap().as_str(),
        "https://acme.example/acme/acct/1"
    );
    assert_eq!(acme.challenge, Some(AcmeChallenge::TlsAlpn01));
    assert_eq!(acme.challenge.unwrap().as_str(), "tls-alpn-01");
    assert!(config.orders.is_empty());
}

#[test]
fn acme_provider_keys_are_checked() {
    let text = r#"[[providers]]
name = "le"
kind = "acme"
account_key_file = "/k"
account_key_env = "K"
account_url = "ftp://acme.example/acct/1"
ca = "letsencrpyt"
challenge = "http-02"
secret_id_file = "/id"
"#;
    let problems = all_problems(text);
    assert_eq!(problems.len(), 5, "{problems:#?}");
    assert!(
        problems[0].starts_with("config.toml:5:19: providers[0].account_key_env: both account_key_file and account_key_env are set"),
        "{problems:#?}"
    );
    assert!(
        problems[1]
            .starts_with("config.toml:6:15: providers[0].account_url: the URL's scheme is \"ftp\""),
        "{problems:#?}"
    );
    assert!(
        problems[2].starts_with("config.toml:7:6: providers[0].ca: unknown CA \"letsencrpyt\""),
        "{problems:#?}"
    );
    assert!(
        problems[3].starts_with("config.toml:8:13: providers[0].challenge: unknown variant `http-02`, expected one of `http-01`, `dns-01`, `tls-alpn-01`"),
        "{problems:#?}"
    );
    assert!(
        problems[4].starts_with(
            "config.toml:9:18: providers[0].secret_id_file: an acme provider has no secret_id_file"
        ),
        "{problems:#?}"
    );
}

#[test]
fn acme_keys_on_a_tencent_provider_are_refused() {
    let text = "[[providers]]\nname = \"tc\"\nkind = \"tencent\"\nsecret_id_env = \"ID\"\nsecret_key_env = \"KEY\"\naccount_url = \"https://acme.example/acct/1\"\nchallenge = \"dns-01\"\n";
    let problems = all_problems(text);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with(
            "config.toml:6:15: providers[0].account_url: only an acme provider has account_url"
        ),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with(
            "config.toml:7:13: providers[0].challenge: only an acme provider has challenge"
        ),
        "{problems:#?}"
    );
}

#[test]
fn a_provider_cannot_be_called_manual() {
    let msg = only_problem(
        "[[providers]]\nname = \"manual\"\nkind = \"acme\"\nca = \"letsencrypt\"\naccount_key_env = \"K\"\n",
    );
    assert!(
        msg.starts_with("config.toml:2:8: providers[0].name: \"manual\" is the name certvigil records manual [[orders]] under"),
        "{msg}"
    );
}

#[test]
fn an_incomplete_acme_provider_is_warned_about() {
    let warnings = warnings_of("[[providers]]\nname = \"le\"\nkind = \"acme\"\n");
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
    assert!(
        warnings[0].starts_with(
            "config.toml:3:8: providers[0].account_key_file: without account_key_file"
        ),
        "{warnings:#?}"
    );
    assert!(
        warnings[1].starts_with("config.toml:3:8: providers[0].ca: without ca"),
        "{warnings:#?}"
    );
    assert!(
        warnings[2].starts_with("config.toml:3:8: providers[0]: no [[orders]] names this provider"),
        "{warnings:#?}"
    );
}

#[test]
fn an_order_names_a_known_acme_provider() {
    let problems = all_problems(&format!(
        "{ACME}[[providers]]\nname = \"tc\"\nkind = \"tencent\"\nsecret_id_env = \"ID\"\nsecret_key_env = \"KEY\"\n[[orders]]\nname = \"a\"\nprovider = \"lets\"\nurl = \"https://acme.example/o/1\"\n[[orders]]\nname = \"b\"\nprovider = \"tc\"\nurl = \"https://acme.example/o/2\"\n"
    ));
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with("config.toml:14:12: orders[0].provider: no [[providers]] entry is named \"lets\" (the providers are le, tc)"),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with(
            "config.toml:18:12: orders[1].provider: providers[1] (\"tc\") is a tencent provider"
        ),
        "{problems:#?}"
    );
}

#[test]
fn an_acme_order_needs_a_url_and_nothing_the_server_says() {
    let problems = all_problems(&format!(
        "{ACME}[[orders]]\nname = \"a\"\nprovider = \"le\"\nca = \"sectigo\"\ndomains = [\"www.example.com\"]\nplaced_at = \"2026-11-20T10:00:00+08:00\"\n"
    ));
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0].starts_with(
            "config.toml:9:12: orders[0].url: an order from an acme provider needs url"
        ),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("config.toml:10:6: orders[0].ca: an ACME order's CA is its provider's: set ca on providers[0]"),
        "{problems:#?}"
    );
    assert!(
        problems[2].starts_with("config.toml:11:11: orders[0].domains: an ACME order's list of names comes from the ACME server"),
        "{problems:#?}"
    );
    assert!(
        problems[3].starts_with("config.toml:12:13: orders[0].placed_at:"),
        "{problems:#?}"
    );
}

#[test]
fn an_order_url_needs_an_acme_provider_and_is_followed_once() {
    let msg = only_problem(
        "[[orders]]\nname = \"m\"\nca = \"sectigo\"\ndomains = [\"www.example.com\"]\nurl = \"https://acme.example/o/1\"\n",
    );
    assert!(
        msg.starts_with("config.toml:5:7: orders[0].url: url is the order URL of an order followed through a provider"),
        "{msg}"
    );
    let msg = only_problem(&format!(
        "{ACME}[[orders]]\nname = \"a\"\nprovider = \"le\"\nurl = \"https://acme.example/o/1\"\n[[orders]]\nname = \"b\"\nprovider = \"le\"\nurl = \"https://acme.example/o/1\"\n"
    ));
    assert!(
        msg.starts_with(
            "config.toml:14:7: orders[1].url: orders[0] already follows this order URL"
        ),
        "{msg}"
    );
    let msg = only_problem(&format!(
        "{ACME}[[orders]]\nname = \"a\"\nprovider = \"le\"\nurl = \"not a url\"\n"
    ));
    assert!(
        msg.starts_with("config.toml:10:7: orders[0].url: not a valid URL"),
        "{msg}"
    );
}

#[test]
fn a_manual_order_still_needs_its_ca_and_domains() {
    let problems = all_problems("[[orders]]\nname = \"m\"\n");
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0]
            .starts_with("config.toml:1:1: orders[0].ca: a manual order (no provider) needs ca"),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with(
            "config.toml:1:1: orders[0].domains: a manual order (no provider) needs domains"
        ),
        "{problems:#?}"
    );
}

#[test]
fn order_thresholds_override_the_defaults() {
    let config = ok("[order_thresholds]\nnotice_lag = \"3h\"\nreviewing_ov = \"7d\"\n");
    let defaults = certvigil_core::orders::judge::Thresholds::default();
    assert_eq!(
        config.order_thresholds,
        certvigil_core::orders::judge::Thresholds {
            notice_lag: Duration::from_secs(3 * 3600),
            reviewing_ov: Duration::from_secs(7 * 86_400),
            ..defaults.clone()
        }
    );
    assert_eq!(ok("").order_thresholds, defaults);
}

#[test]
fn order_thresholds_are_checked() {
    let problems = all_problems(
        "[order_thresholds]\nnotice_lag = \"soon\"\nsubmitting = \"0s\"\ndns_validation = \"24h\"\n",
    );
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].starts_with(
            "config.toml:2:14: order_thresholds.notice_lag: \"soon\" is not a duration"
        ),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("config.toml:3:14: order_thresholds.submitting: \"0s\" is zero"),
        "{problems:#?}"
    );
    assert!(
        problems[2].starts_with(
            "config.toml:4:1: order_thresholds.dns_validation: unknown field `dns_validation`"
        ),
        "{problems:#?}"
    );
    // The default warning is 72h: an urgent window as long never warns.
    let msg = only_problem("[order_thresholds]\ndeadline_urgent = \"3d\"\n");
    assert!(
        msg.starts_with("config.toml:2:19: order_thresholds.deadline_urgent: deadline_urgent (3d) must be shorter than deadline_warning (3d)"),
        "{msg}"
    );
    let msg = only_problem("[order_thresholds]\ndeadline_warning = \"12h\"\n");
    assert!(
        msg.starts_with("config.toml:2:20: order_thresholds.deadline_warning: deadline_urgent (1d) must be shorter"),
        "{msg}"
    );
    let msg = only_problem("[orders]\nnotice_lag = \"3h\"\n");
    assert!(msg.contains("orders: must be an array of tables"), "{msg}");
}

#[test]
fn a_secret_file_readable_by_others_is_a_warning_and_a_private_one_is_not() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hook.secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let text = format!(
        "[[alerts.webhook]]\nurl = \"https://hooks.example.com/x\"\nsecret_file = \"{}\"\n",
        secret.display()
    );
    for (mode, who) in [
        (0o644, Some("every user")),
        (0o640, Some("its group")),
        (0o600, None),
    ] {
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(mode)).unwrap();
        let warnings = warnings_of(&text);
        match who {
            Some(who) => {
                assert_eq!(warnings.len(), 1, "{warnings:#?}");
                assert!(
                    warnings[0].starts_with(
                        "config.toml:3:15: alerts.webhook[0].secret_file: the secret file"
                    ) && warnings[0].contains(&format!("readable by {who} (mode {mode:04o})"))
                        && warnings[0].contains("chmod 600"),
                    "{}",
                    warnings[0]
                );
                assert!(!warnings[0].contains("s3cret"));
            }
            None => assert!(warnings.is_empty(), "{warnings:#?}"),
        }
    }
}

#[test]
fn channels_take_a_name_and_email_a_timeout() {
    let text = "[[alerts.email]]\nname = \"ops-mail\"\nserver = \"smtp.example.com\"\ntimeout = \"5s\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n\n[[alerts.webhook]]\nname = \"oncall\"\nurl = \"https://hooks.example.com/x\"\n\n[[alerts.webhook]]\nurl = \"https://hooks.example.com/y\"\n";
    let alerts = ok(text).alerts;
    assert_eq!(alerts.email[0].name.as_deref(), Some("ops-mail"));
    assert_eq!(alerts.email[0].timeout, std::time::Duration::from_secs(5));
    assert_eq!(alerts.webhook[0].name.as_deref(), Some("oncall"));
    assert_eq!(alerts.webhook[1].name, None);
    let defaults = ok(
        "[[alerts.email]]\nserver = \"smtp.example.com\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n",
    );
    assert_eq!(
        defaults.alerts.email[0].timeout,
        std::time::Duration::from_secs(30)
    );
}

#[test]
fn two_channels_of_a_kind_with_one_name_are_refused() {
    let text = "[[alerts.webhook]]\nname = \"oncall\"\nurl = \"https://a.example.com/x\"\n\n[[alerts.webhook]]\nname = \"oncall\"\nurl = \"https://b.example.com/y\"\n";
    let msg = only_problem(text);
    assert!(
        msg.starts_with("config.toml:6:8: alerts.webhook[1].name: another [[alerts.webhook]] is already named \"oncall\""),
        "{msg}"
    );
    let msg =
        only_problem("[[alerts.webhook]]\nname = \"on call\"\nurl = \"https://a.example.com/x\"\n");
    assert!(msg.contains("is not a channel name"), "{msg}");
}

#[test]
fn allow_no_domains_is_off_unless_set() {
    assert!(!ok("").daemon.allow_no_domains);
    assert!(
        ok("[daemon]\nallow_no_domains = true\n")
            .daemon
            .allow_no_domains
    );
}

#[test]
fn flap_damping_is_configurable() {
    let c = ok("[alerts]\nflap_window = \"2h\"\nflap_changes = 4\nsettle_after = \"10m\"\n");
    assert_eq!(c.alerts.flap_window, Duration::from_secs(7200));
    assert_eq!(c.alerts.flap_changes, 4);
    assert_eq!(c.alerts.settle_after, Duration::from_secs(600));
    let policy = c.alerts.policy();
    assert_eq!(policy.settle_after, chrono::Duration::minutes(10));
    assert_eq!(policy.flap_changes, 4);
    let msg = only_problem("[alerts]\nflap_changes = 1\n");
    assert!(msg.contains("alerts.flap_changes"), "{msg}");
}

#[test]
fn dns_views_default_to_both_on_port_53_and_are_read() {
    let c = ok("");
    assert_eq!(c.dns.views.view, DnsView::Both);
    assert_eq!(c.dns.views.authoritative_port, 53);
    let c = ok("[dns]\nview = \"authoritative\"\nauthoritative_port = 5353\n");
    assert_eq!(c.dns.views.view, DnsView::Authoritative);
    assert_eq!(c.dns.views.authoritative_port, 5353);
    assert_eq!(
        ok("[dns]\nview = \"recursive\"\n").dns.views.view,
        DnsView::Recursive
    );
}

#[test]
fn a_bad_view_or_port_is_reported_at_its_line_and_column() {
    let msg = only_problem("[dns]\ntimeout = \"2s\"\nview = \"abroad\"\n");
    assert!(msg.starts_with("config.toml:3:8"), "{msg}");
    assert!(msg.contains("dns.view"), "{msg}");
    assert!(
        msg.contains("\"both\", \"recursive\" or \"authoritative\""),
        "{msg}"
    );
    let msg = only_problem("[dns]\nauthoritative_port = 0\n");
    assert!(msg.starts_with("config.toml:2:22"), "{msg}");
    assert!(msg.contains("dns.authoritative_port"), "{msg}");
}

#[test]
fn globalping_is_off_unless_configured_and_checked_when_it_is() {
    assert!(ok("").globalping.is_none());
    let c = ok("[globalping]\ntoken_env = \"GP_TOKEN\"\nlocations = [\"DE\", \"Singapore\"]\n");
    let g = c.globalping.unwrap();
    assert_eq!(g.endpoint.as_str(), DEFAULT_GLOBALPING_API);
    assert_eq!(g.locations, ["DE", "Singapore"]);
    assert_eq!(g.limit, 3);
    assert!(g.token.is_some());
    let msg = only_problem("[globalping]\nlimit = 500\n");
    assert!(msg.starts_with("config.toml:2:9"), "{msg}");
    assert!(msg.contains("globalping.limit"), "{msg}");
    let msg = only_problem("[globalping]\nendpoint = \"ftp://x\"\n");
    assert!(msg.contains("globalping.endpoint"), "{msg}");
    assert!(
        ok("[globalping]\nenabled = false\ntoken_env = \"GP\"\n")
            .globalping
            .is_none()
    );
}

/// Issue 13.6: the config refuses what `check` refuses: an IP address as a
/// domain, a retired ACME method; and takes an account's several URIs.
#[test]
fn an_ip_address_domain_is_refused_at_its_name() {
    for given in ["192.0.2.1", "[2001:db8::1]"] {
        let text = format!("[[domains]]\nname = \"{given}\"\nca = [\"letsencrypt\"]\n");
        let msg = only_problem(&text);
        assert!(
            msg.starts_with("config.toml:2:8: domains[0].name:") && msg.contains("IP address"),
            "{msg}"
        );
    }
}

#[test]
fn a_retired_acme_method_is_refused_saying_it_is_retired() {
    let text = "[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\nvalidation_method = \"tls-sni-01\"\n";
    let msg = only_problem(text);
    assert!(
        msg.starts_with("config.toml:4:21: domains[0].validation_method:")
            && msg.contains("retired ACME validation method")
            && msg.contains("tls-alpn-01"),
        "{msg}"
    );
}

#[test]
fn an_account_has_several_uris_each_checked() {
    let config = ok(
        "[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\naccount_uri = \"https://acme-v02.api.letsencrypt.org/acme/acct/1\"\naccount_uris = [\"https://acme-v01.api.letsencrypt.org/acme/reg/1\"]\n",
    );
    assert_eq!(
        config.domains[0].account_uris,
        [
            "https://acme-v02.api.letsencrypt.org/acme/acct/1",
            "https://acme-v01.api.letsencrypt.org/acme/reg/1"
        ]
    );
    let msg = only_problem(
        "[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\naccount_uris = [\"https://ok.example/acct/1\", \"not a uri\"]\n",
    );
    assert!(
        msg.starts_with("config.toml:4:46: domains[0].account_uris[1]: not a URI"),
        "{msg}"
    );
}

#[test]
fn dnssec_validates_by_default_with_the_builtin_anchors() {
    let c = ok("");
    assert!(c.dnssec.validate);
    assert_eq!(c.dnssec.trust_anchor_file, None);
    let c = ok("[dnssec]\nvalidate = false\n");
    assert!(!c.dnssec.validate);
    let c = ok("[dnssec]\ntrust_anchor_file = \"Cargo.toml\"\n");
    assert_eq!(c.dnssec.trust_anchor_file, Some("Cargo.toml".into()));
}

#[test]
fn dnssec_anchor_file_problems_have_key_line_and_column() {
    let p = only_problem("[dnssec]\ntrust_anchor_file = \"\"\n");
    assert!(p.contains("config.toml:2:21"), "{p}");
    assert!(p.contains("dnssec.trust_anchor_file"), "{p}");
    assert!(p.contains("built-in IANA root anchors"), "{p}");
    let p = only_problem("[dnssec]\ntrust_anchor_file = \"/nonexistent/root.ds\"\n");
    assert!(p.contains("cannot read /nonexistent/root.ds"), "{p}");
    let p = only_problem("[dnssec]\nvalidate = \"yes\"\n");
    assert!(
        p.contains("dnssec.validate") || p.contains("validate"),
        "{p}"
    );
}
