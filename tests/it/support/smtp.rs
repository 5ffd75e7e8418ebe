//! A real SMTP server on 127.0.0.1 for tests: Debian's python3-aiosmtpd
//! running `smtp_sink.py` (beside this file) as a child process. Each
//! received message is parsed by Python's email package and read back here.
//!
//! Needs `/usr/bin/python3` with `python3-aiosmtpd` (apt-get install
//! python3-aiosmtpd). `/usr/bin/python3` is named explicitly because a
//! `python3` earlier on PATH (pyenv) does not see Debian's packages.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// One message as the server received it.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The message exactly as sent on the wire.
    pub raw: String,
    /// Decoded (RFC 2047) subject.
    pub subject: String,
    /// Header names and raw (undecoded) values, in order.
    pub headers: Vec<(String, String)>,
    /// Decoded text body.
    pub body: String,
}

impl ReceivedMail {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// A port on 127.0.0.1 that nothing listens on right now (for "server
/// down" tests; a sink can be started on it later).
pub fn unused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/smtp_sink.py")
}

impl SmtpSink {
    /// A sink on a free port, without authentication.
    pub fn start() -> Self {
        Self::start_on(0, None)
    }

    /// A sink on `port` (0: any free port), requiring `auth` if given.
    pub fn start_on(port: u16, auth: Option<(&str, &str)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(script()).arg(port.to_string()).arg(dir.path());
        if let Some((user, password)) = auth {
            cmd.arg(user).arg(password);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start /usr/bin/python3 (is python3-aiosmtpd installed?)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("SMTP sink did not start: {line:?}"));
        Self { child, port, dir }
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                let mut m: ReceivedMail =
                    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
                // The wire uses CRLF; tests compare with Rust strings.
                m.body = m.body.replace("\r\n", "\n");
                m
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived (an event, not a timing
    /// assumption: the limit only stops a broken test from hanging).
    pub async fn wait_for(&self, n: usize) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} messages, got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
