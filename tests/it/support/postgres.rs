//! A real PostgreSQL server for the tests: one throwaway cluster per run of
//! the test binary (initdb + postgres in a temporary directory, listening on
//! 127.0.0.1 at a free port, trust authentication, no system service), and
//! a fresh database per test. Started by the first test that asks for it.
//!
//! The server is killed when the test process ends, however it ends: it is
//! started with a parent-death signal from a thread that lives as long as
//! the process, and an exit handler removes its directory. A directory left
//! by a run that was killed is removed by the next run.
//!
//! initdb refuses to run as root: as root the cluster belongs to the
//! `postgres` user the Debian package creates.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use certvigil::store::Store;
use sqlx::Connection;

struct Cluster {
    port: u16,
    dir: PathBuf,
    pid: AtomicU32,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

const PREFIX: &str = "certvigil-pg-";

/// The newest PostgreSQL installed under /usr/lib/postgresql.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (/usr/lib/postgresql is missing): scripts/test installs the Debian package postgresql")
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no PostgreSQL version under /usr/lib/postgresql")
        .1
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `program` as the cluster's owner: `postgres` when we are root.
fn as_owner(program: &Path) -> Command {
    let mut cmd = Command::new("setpriv");
    if is_root() {
        cmd.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]);
    }
    cmd.arg("--pdeathsig=KILL").arg(program);
    cmd
}

fn remove_stale_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

extern "C" fn stop_cluster() {
    if let Some(c) = CLUSTER.get() {
        let pid = c.pid.load(Ordering::SeqCst);
        if pid != 0 {
            // Immediate shutdown: the server stops its backends and waits
            // for them (so none is left unreaped), then exits; the thread
            // that started it reaps it.
            // SAFETY: signalling a process we started.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGQUIT) };
            let proc = Path::new("/proc").join(pid.to_string());
            for _ in 0..100 {
                if !proc.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_dir_all(&c.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start() -> Cluster {
    remove_stale_clusters();
    let bin = bin_dir();
    let dir = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    if is_root() {
        let out = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "chown: {out:?}");
    }
    let out = as_owner(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let log = std::fs::File::create(dir.join("postgres.log")).unwrap();
    let mut cmd = as_owner(&bin.join("postgres"));
    cmd.arg("-D")
        .arg(&data)
        .arg("-p")
        .arg(port.to_string())
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            // A throwaway cluster: durability buys nothing here.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=400",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let cluster = Cluster {
        port,
        dir: dir.clone(),
        pid: AtomicU32::new(0),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    // The parent-death signal fires when the thread that started the
    // child ends: this one lives until the server does.
    std::thread::spawn(move || {
        let mut child = cmd.spawn().expect("cannot start postgres");
        tx.send(child.id()).unwrap();
        let _ = child.wait();
    });
    cluster.pid.store(rx.recv().unwrap(), Ordering::SeqCst);
    // SAFETY: registering a plain function with no captured state.
    unsafe { libc::atexit(stop_cluster) };
    // Ready when it accepts a connection.
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cluster
}

fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(start)
}

fn url(port: u16, db: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/{db}")
}

/// A new, empty database on the shared cluster; returns its URL.
pub async fn fresh_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let port = tokio::task::spawn_blocking(|| cluster().port)
        .await
        .unwrap();
    let name = format!("cv_{}", NEXT.fetch_add(1, Ordering::SeqCst));
    let mut last = None;
    // The server may still be starting (it accepts TCP before it accepts
    // logins); a few attempts, not a timed assertion.
    for _ in 0..100 {
        match sqlx::PgConnection::connect(&url(port, "postgres")).await {
            Ok(mut conn) => {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let _ = conn.close().await;
                return url(port, &name);
            }
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    panic!(
        "cannot reach the test PostgreSQL at 127.0.0.1:{port}: {last:?}; its log is {}",
        cluster().dir.join("postgres.log").display()
    );
}

/// The pid of the shared cluster's postmaster, once started (benches read
/// its CPU time and its backends' from /proc).
pub fn server_pid() -> Option<u32> {
    let pid = CLUSTER.get()?.pid.load(Ordering::SeqCst);
    (pid != 0).then_some(pid)
}

/// Where a test's store lives: a file in a temporary directory, or a fresh
/// PostgreSQL database on the shared cluster.
pub enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Db {
    pub fn sqlite() -> Db {
        Db::Sqlite(tempfile::tempdir().unwrap())
    }

    pub async fn postgres() -> Db {
        Db::Postgres(fresh_database().await)
    }

    /// The `database` setting naming it.
    pub fn setting(&self) -> PathBuf {
        match self {
            Db::Sqlite(dir) => dir.path().join("certvigil.db"),
            Db::Postgres(url) => PathBuf::from(url),
        }
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.setting()).await.unwrap()
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }
}

/// Runs each named `async fn(Db)` twice: `NAME::sqlite` and
/// `NAME::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::support::postgres::Db::sqlite()).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name($crate::support::postgres::Db::postgres().await).await
            }
        }
    )*};
}
