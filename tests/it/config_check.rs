//! `certvigil config check` run as an operator runs it: the real binary on
//! real files in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the certvigil binary runs");
    Run {
        code: status.code().expect("certvigil exits normally"),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn certvigil() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certvigil"));
    // The test's own environment must not pick the file.
    cmd.env_remove("CERTVIGIL_CONFIG");
    cmd
}

fn check(path: &Path) -> Run {
    run(certvigil().args(["config", "check", "--config"]).arg(path))
}

/// Writes `text` as `config.toml` in a fresh directory.
fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// Asserts exit 2 and that stderr has a line starting with
/// `<path>:<expected>`.
fn assert_reported(text: &str, expected: &str) {
    let (_dir, path) = config_file(text);
    let out = check(&path);
    assert_eq!(out.code, 2, "stderr:\n{}", out.stderr);
    let want = format!("{}:{expected}", path.display());
    assert!(
        out.stderr.lines().any(|l| l.starts_with(&want)),
        "expected a line starting with {want:?}, got:\n{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

/// The example with its optional parts in use: `#key = value` and
/// `#[[section]]` lines (no space after `#`) are commented-out examples.
fn example_in_full(text: &str) -> String {
    text.lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if !rest.is_empty() && !rest.starts_with([' ', '#']) => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Issue 11: installed as is (README's install steps use `certvigil init`,
/// but a copied reference must not break the service), the example passes
/// `config check` with nothing to fix: its optional parts are commented out.
#[test]
fn the_example_config_as_installed_passes_config_check() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let out = check(&path);
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!("{}: ok (2 domains, 0 alert channels)\n", path.display())
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn the_example_config_is_ok() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let full = example_in_full(&std::fs::read_to_string(&example).unwrap());
    let path = dir.path().join("full.toml");
    std::fs::write(&path, &full).unwrap();
    let out = check(&path);
    // Valid with every optional part in use, but the secret files it names
    // are not on this machine: a service installed with it could not
    // alert, so the unit's pre-start check must fail (exit 2) and name
    // every one.
    assert_eq!(out.code, 2, "stderr:\n{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains(": error: "))
        .collect();
    assert_eq!(errors.len(), 7, "{}", out.stderr);
    assert!(
        errors
            .iter()
            .all(|l| l.contains("secret file") || l.contains("environment variable")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.ends_with("7 problems found\n"), "{}", out.stderr);

    // With every secret readable it is ok.
    let mut text = full.clone();
    for name in [
        "smtp.password",
        "webhook.secret",
        "agent.token",
        "tencent.id",
        "tencent.key",
        "acme-account.key",
        "web.token",
    ] {
        let secret = dir.path().join(name);
        std::fs::write(&secret, "x\n").unwrap();
        text = text.replace(
            &format!("/etc/certvigil/{name}"),
            &secret.display().to_string(),
        );
    }
    let copy = dir.path().join("config.toml");
    std::fs::write(&copy, text).unwrap();
    let out = run(certvigil()
        .args(["config", "check", "--config"])
        .arg(&copy)
        .env("CERTVIGIL_GLOBALPING_TOKEN", "x"));
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!("{}: ok (2 domains, 2 alert channels)\n", copy.display())
    );
}

/// The README's main command runs the daemon with this file: it must be
/// valid, use the embedded SQLite default (no `database` key), and point at
/// nothing but loopback.
#[test]
fn the_quickstart_config_is_ok_and_uses_the_default_database() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.toml");
    let r = check(&path);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let text = std::fs::read_to_string(&path).unwrap();
    let config = certvigil::config::parse_with_state_directory(&text, "quickstart.toml", None)
        .expect("quickstart parses");
    assert_eq!(config.database_path(), Path::new("./certvigil.db"));
    assert!(
        config
            .dns
            .nameservers
            .iter()
            .all(|ns| ns.ip().is_loopback())
    );
    assert_eq!(config.alert_channel_count(), 0);
}

#[test]
fn the_config_path_can_come_from_the_environment() {
    let (_dir, path) = config_file("[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\n");
    let out = run(certvigil()
        .args(["config", "check"])
        .env("CERTVIGIL_CONFIG", &path));
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!("{}: ok (1 domain, 0 alert channels)\n", path.display())
    );
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let out = check(&path);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with(&format!(
            "{}: cannot read the configuration file",
            path.display()
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--config"), "{}", out.stderr);
}

#[test]
fn an_unknown_key_is_reported_with_line_and_column() {
    assert_reported(
        "[dns]\nnameservers = [\"127.0.0.1\"]\n\n[daemon]\nshedule = \"0 * * * * *\"\n",
        "5:1: daemon.shedule: unknown field `shedule`",
    );
}

#[test]
fn a_wrong_type_is_reported_with_line_and_column() {
    assert_reported(
        "[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\nwildcard = \"yes\"\n",
        "4:12: domains[0].wildcard: invalid type: string \"yes\", expected a boolean",
    );
}

#[test]
fn a_bad_duration_is_reported_with_line_and_column() {
    assert_reported(
        "[dns]\ntimeout = \"5 seconds-ish\"\n",
        "2:11: dns.timeout: \"5 seconds-ish\" is not a duration",
    );
}

#[test]
fn a_bad_cron_is_reported_with_line_and_column() {
    assert_reported(
        "[daemon]\nschedule = \"0 */15 * * *\"\n",
        "2:12: daemon.schedule: \"0 */15 * * *\" is not a cron schedule",
    );
}

#[test]
fn an_unknown_ca_is_reported_with_line_and_column() {
    assert_reported(
        "[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\", \"sectgo\"]\n",
        "3:22: domains[0].ca[1]: unknown CA \"sectgo\": use a catalogue name (letsencrypt, sectigo,",
    );
}

#[test]
fn an_invalid_domain_is_reported_with_line_and_column() {
    assert_reported(
        "[[domains]]\nname = \"*.*.example.com\"\nca = [\"letsencrypt\"]\n",
        "2:8: domains[0].name: \"*.*.example.com\" is not a domain name",
    );
}

#[test]
fn every_mistake_in_a_file_is_reported() {
    let (_dir, path) = config_file(
        r#"[daemon]
concurrency = -1

[[domains]]
name = "example.com"
ca = ["nosuchca"]

[[domains]]
name = "example.com"
ca = ["letsencrypt"]

[alerts]
reminder = "daily"

[[alerts.email]]
server = "smtp.example.com"
from = "certvigil@example.com"
to = []
"#,
    );
    let out = check(&path);
    assert_eq!(out.code, 2, "stderr:\n{}", out.stderr);
    let p = path.display();
    let expected = [
        format!("{p}:2:15: daemon.concurrency: "),
        format!("{p}:6:7: domains[0].ca[0]: unknown CA \"nosuchca\""),
        format!("{p}:9:8: domains[1].name: example.com is already watched by domains[0] (line 5)"),
        format!("{p}:13:12: alerts.reminder: \"daily\" is not a duration"),
        format!("{p}:15:1: alerts.email[0].to: no recipients"),
        format!("{p}: 5 problems found"),
    ];
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{}", out.stderr);
    for (line, want) in lines.iter().zip(&expected) {
        assert!(
            line.starts_with(want.as_str()),
            "{line:?} should start with {want:?}"
        );
    }
}

#[test]
fn secrets_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("smtp.password");
    std::fs::write(&password, "hunter2-file-secret\n").unwrap();
    let valid = format!(
        "[[alerts.email]]\nserver = \"smtp.example.com\"\nusername = \"u\"\npassword_file = {:?}\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n\n[[alerts.webhook]]\nurl = \"https://hooks.example.com/x\"\nsecret_env = \"CERTVIGIL_TEST_HOOK_SECRET\"\n",
        password.display().to_string()
    );
    // The same file with a mistake, so the error path is covered too.
    let invalid = format!("{valid}format = \"teams\"\n");
    for (text, code) in [(&valid, 0), (&invalid, 2)] {
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        let out = run(certvigil()
            .args(["config", "check", "--config"])
            .arg(&path)
            .env("CERTVIGIL_TEST_HOOK_SECRET", "hunter2-env-secret"));
        assert_eq!(out.code, code, "stderr:\n{}", out.stderr);
        for secret in ["hunter2-file-secret", "hunter2-env-secret"] {
            assert!(!out.stdout.contains(secret), "stdout leaks: {}", out.stdout);
            assert!(!out.stderr.contains(secret), "stderr leaks: {}", out.stderr);
        }
    }
}

#[test]
fn an_unreadable_secret_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("webhook.secret");
    let (_cfg_dir, path) = config_file(&format!(
        "[[domains]]\nname = \"example.com\"\nca = [\"letsencrypt\"]\n\n[[alerts.webhook]]\nurl = \"https://hooks.example.com/x\"\nsecret_file = {:?}\n",
        missing.display().to_string()
    ));
    let out = check(&path);
    assert_eq!(out.code, 2, "stderr:\n{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let error = out
        .stderr
        .lines()
        .find(|l| l.contains("error"))
        .unwrap_or_else(|| panic!("no error in:\n{}", out.stderr));
    assert!(error.contains("alerts.webhook[0].secret_file"), "{error}");
    assert!(error.contains(&missing.display().to_string()), "{error}");
    assert!(out.stderr.contains("1 problem found"), "{}", out.stderr);

    // Readable: ok.
    std::fs::write(&missing, "s3cret\n").unwrap();
    let out = check(&path);
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
}

#[test]
fn a_config_without_domains_is_ok_with_a_warning() {
    for text in ["", "[daemon]\n"] {
        let (_dir, path) = config_file(text);
        let out = check(&path);
        assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
        let warning = out
            .stderr
            .lines()
            .find(|l| l.contains("warning"))
            .unwrap_or_else(|| panic!("no warning for {text:?}:\n{}", out.stderr));
        assert!(warning.contains("no [[domains]]"), "{warning}");
    }
}

#[test]
fn a_doubtful_setting_is_a_warning_with_its_place() {
    let (_dir, path) = config_file(
        "[[alerts.email]]\nserver = \"smtp.example.com\"\ntls = \"none\"\nusername = \"u\"\npassword_env = \"CERTVIGIL_TEST_SMTP\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n",
    );
    let out = run(certvigil()
        .args(["config", "check", "--config"])
        .arg(&path)
        .env("CERTVIGIL_TEST_SMTP", "pw"));
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    let want = format!(
        "{}:3:7: warning: alerts.email[0].tls: tls = \"none\" sends the SMTP password",
        path.display()
    );
    assert!(out.stderr.starts_with(&want), "{}", out.stderr);
}

#[test]
fn vantage_provider_and_order_mistakes_are_reported_with_line_and_column() {
    let (_dir, path) = config_file(
        r#"[[vantage]]
name = "gp"
kind = "globalping"
overseas = true
locations = [{ country = "DE" }, { country = "US", city = "Boston" }]

[[providers]]
name = "le"
kind = "acme"
ca = "letsencrypt"
account_key_env = "CERTVIGIL_TEST_ACME_KEY"
challenge = "http-99"

[[orders]]
name = "api"
provider = "lee"
url = "https://acme.example/acme/order/1"

[order_thresholds]
notice_lag = "a while"
"#,
    );
    let out = check(&path);
    assert_eq!(out.code, 2, "stderr:\n{}", out.stderr);
    let p = path.display();
    let expected = [
        format!("{p}:5:34: vantage[0].locations[1]: a location selects by one key"),
        format!("{p}:12:13: providers[0].challenge: unknown variant `http-99`"),
        format!("{p}:16:12: orders[0].provider: no [[providers]] entry is named \"lee\""),
        format!("{p}:20:14: order_thresholds.notice_lag: \"a while\" is not a duration"),
        format!("{p}: 4 problems found"),
    ];
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{}", out.stderr);
    for (line, want) in lines.iter().zip(&expected) {
        assert!(
            line.starts_with(want.as_str()),
            "{line:?} should start with {want:?}"
        );
    }
}

#[test]
fn config_check_as_json_lists_problems_and_warnings() {
    let (_dir, path) = config_file("[daemon]\nschedule = \"every now and then\"\n");
    let out = run(certvigil()
        .args(["config", "check", "--format", "json", "--config"])
        .arg(&path));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["ok"], false);
    let p = &v["problems"][0];
    assert_eq!(p["key"], "daemon.schedule", "{v}");
    assert!(p["location"].as_str().unwrap().ends_with(":2:12"), "{v}");

    let (_dir, path) = config_file("");
    let out = run(certvigil()
        .args(["config", "check", "--format", "json", "--config"])
        .arg(&path));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["domains"], 0);
    assert!(
        v["warnings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no [[domains]]"),
        "{v}"
    );
}

/// Issue 11: a newcomer starts from `certvigil init`, whose file `config
/// check` accepts as written (no secret files, no example endpoints), and
/// which never overwrites a file or writes a name the config would refuse.
#[test]
fn init_writes_a_starter_that_config_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let init = |domain: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_certvigil"))
            .args([
                "init",
                "--domain",
                domain,
                "--email",
                "ops@example.com",
                "--output",
            ])
            .arg(&path)
            .output()
            .unwrap()
    };
    let out = init("bücher.example");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked = check(&path);
    assert_eq!(checked.code, 0, "stderr:\n{}", checked.stderr);
    assert!(
        checked.stdout.contains("ok (1 domain, 1 alert channel)"),
        "{}",
        checked.stdout
    );
    assert!(checked.stderr.is_empty(), "no warning: {}", checked.stderr);

    let before = std::fs::read_to_string(&path).unwrap();
    let again = init("other.example");
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        before,
        "not overwritten"
    );

    std::fs::remove_file(&path).unwrap();
    let bad = init("bad..name");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("empty label"));
    assert!(!path.exists());
}

/// Issue 11: shell completions and the manual page come from the command
/// line definition itself, so every command is in them.
#[test]
fn completions_and_the_man_page_name_every_command() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_certvigil"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let man = run(&["man"]);
    assert!(man.contains(".TH certvigil 1"), "{man}");
    let bash = run(&["completions", "bash"]);
    let fish = run(&["completions", "fish"]);
    for command in [
        "check", "run", "status", "history", "init", "config", "alert", "orders", "probe",
    ] {
        assert!(man.contains(command), "man page lacks {command}");
        assert!(bash.contains(command), "bash completion lacks {command}");
        assert!(fish.contains(command), "fish completion lacks {command}");
    }
    assert!(
        bash.contains("--validation-method"),
        "options are completed too"
    );
}
