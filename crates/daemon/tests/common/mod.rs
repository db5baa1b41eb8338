//! Runs the real `distlogd` binary on ports chosen at run time.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Generous: these machines are shared; this only guards against hangs.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct Daemon {
    child: Option<Child>,
    pub intake: String,
    pub http: String,
    pub log: mpsc::Receiver<String>,
    /// The daemon's standard output, line by line, when asked for.
    pub stdout: Option<mpsc::Receiver<String>>,
}

/// Sends each line of `from` until it ends.
fn lines_of(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

impl Daemon {
    pub fn start(store: &Path) -> Daemon {
        Self::start_with(store, &[])
    }

    pub fn start_with(store: &Path, extra: &[&str]) -> Daemon {
        Self::launch(store, extra, false)
    }

    /// As `start_with`, keeping standard output in `stdout`.
    pub fn start_with_stdout(store: &Path, extra: &[&str]) -> Daemon {
        Self::launch(store, extra, true)
    }

    fn launch(store: &Path, extra: &[&str], stdout: bool) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_distlogd"))
            .args([
                "--listen",
                "tcp://127.0.0.1:*",
                "--http",
                "127.0.0.1:0",
                "--store",
            ])
            .arg(store)
            .args(extra)
            .env_remove("DISTLOGD_CONFIG")
            .env("DISTLOGD_LOG", "info")
            .stdout(if stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped())
            .spawn()
            .expect("distlogd starts");
        let rx = lines_of(child.stderr.take().expect("stderr piped"));
        let stdout = child.stdout.take().map(lines_of);
        // Owned by a Daemon from here on, so a failed start still reaps it.
        let mut daemon = Daemon {
            child: Some(child),
            intake: String::new(),
            http: String::new(),
            log: rx,
            stdout,
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            let line = daemon
                .log
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("distlogd says it is ready");
            if line.contains("distlogd ready") {
                let field = |name: &str| {
                    line.split_whitespace()
                        .find_map(|w| w.strip_prefix(&format!("{name}=")))
                        .expect("field in ready line")
                        .to_owned()
                };
                daemon.intake = field("intake");
                daemon.http = format!("http://{}", field("http"));
                return daemon;
            }
        }
    }

    pub fn get(&self, path: &str) -> Value {
        let mut resp = ureq::get(&format!("{}{path}", self.http))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        resp.body_mut().read_json().expect("JSON answer")
    }

    /// GET that may fail with an HTTP status: returns (status, body).
    pub fn get_status(&self, path: &str) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent
            .get(&format!("{}{path}", self.http))
            .call()
            .expect("daemon answers");
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_json().expect("JSON answer"))
    }

    /// Waits for a line of the daemon's log containing `text`.
    pub fn wait_log(&self, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!("distlogd never logged {text:?}"),
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    pub fn stats(&self) -> Value {
        self.get("/api/stats")
    }

    pub fn sink(&self, name: &str) -> Value {
        let stats = self.stats();
        stats["sinks"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no sink {name} in {stats}"))
    }

    /// Waits until `done(stats)` holds, or panics after PATIENCE.
    pub fn wait_for(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let stats = self.stats();
            if done(&stats) {
                return stats;
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting for {what}: {stats}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: the daemon dies at once, as in a crash.
    pub fn kill9(mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL");
            c.wait().expect("reaped");
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(code) = child.try_wait().expect("wait") {
                assert!(code.success(), "distlogd exited with {code}");
                return;
            }
            assert!(Instant::now() < deadline, "distlogd did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn store_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("distlog.db")
}

/// A connected PUSH socket.
pub fn pusher(ctx: &zmq::Context, endpoint: &str) -> zmq::Socket {
    let s = ctx.socket(zmq::PUSH).expect("socket");
    s.set_linger(10_000).expect("linger");
    s.connect(endpoint).expect("connect");
    s
}

pub fn record(key: Option<&str>, message: &str, extra: &str) -> Vec<u8> {
    let context = match key {
        Some(k) => format!(r#"{{"key": "{k}"}}"#),
        None => "null".into(),
    };
    format!(
        r#"{{"name": "root", "levelno": 20, "levelname": "INFO", "message": "{message}",
        "hostname": "testhost", "process": 4242, "context": {context}{extra}}}"#
    )
    .into_bytes()
}

/// A `GET /api/feed` subscriber: its lines, until the response ends.
pub fn subscribe(daemon: &Daemon, query: &str) -> mpsc::Receiver<String> {
    let resp = ureq::get(&format!("{}/api/feed{query}", daemon.http))
        .call()
        .expect("the feed answers");
    let body = resp.into_body().into_reader();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(body).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The next event's name (empty for a record) and data; `None` once the
/// response has ended.
pub fn next_event(feed: &mpsc::Receiver<String>) -> Option<(String, String)> {
    let mut event = String::new();
    // Keep-alive comments come every 15 s: they must not count as news.
    let deadline = Instant::now() + PATIENCE;
    loop {
        match feed.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                if let Some(name) = line.strip_prefix("event:") {
                    event = name.trim().to_owned();
                } else if let Some(data) = line.strip_prefix("data:") {
                    return Some((event, data.trim_start().to_owned()));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the feed went silent"),
        }
    }
}
