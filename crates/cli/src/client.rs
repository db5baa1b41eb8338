//! A small blocking client of distlogd's HTTP API.

use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use serde_json::Value;

/// The daemon's `{"error": …}` answer, kept typed so that a caller can tell
/// "not found" from other failures.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    fn from_answer(status: u16, body: &Value) -> ApiError {
        let message = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no detail given")
            .to_owned();
        ApiError { status, message }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {})", self.message, self.status)
    }
}

impl std::error::Error for ApiError {}

/// True when `e` is the daemon saying it has no such thing.
pub fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiError>()
        .is_some_and(|a| a.status == 404)
}

pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(server: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client {
            base: server.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// GETs `path` with `query` pairs (empty values are left out) and returns
    /// the JSON answer, turning the API's `{"error": …}` into an error.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.agent.get(&url);
        for (k, v) in query.iter().filter(|(_, v)| !v.is_empty()) {
            req = req.query(*k, v);
        }
        let mut resp = req.call().map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        // Read whole, then parse: parsing from the reader went byte by byte.
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .with_context(|| format!("reading the answer of {url}"))?;
        let body: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("the answer of {url} is not JSON"))?;
        if !status.is_success() {
            return Err(ApiError::from_answer(status.as_u16(), &body).into());
        }
        Ok(body)
    }

    /// Sends `method` (POST, DELETE) to `path` with `query` pairs and an
    /// optional JSON body; the answer as [`Client::get`] gives it.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut url = format!("{}{}", self.base, path);
        let pairs: Vec<String> = query
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    path_escape(v).replace('/', "%2F").replace('@', "%40")
                )
            })
            .collect();
        if !pairs.is_empty() {
            url = format!("{url}?{}", pairs.join("&"));
        }
        let call = match (method, body) {
            ("POST", Some(b)) => self.agent.post(&url).send_json(b),
            ("POST", None) => self.agent.post(&url).send_empty(),
            _ => self.agent.delete(&url).call(),
        };
        let mut resp = call.map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        let body: Value = resp
            .body_mut()
            .read_json()
            .with_context(|| format!("the answer of {url} is not JSON"))?;
        if !status.is_success() {
            return Err(ApiError::from_answer(status.as_u16(), &body).into());
        }
        Ok(body)
    }

    /// Opens a streaming GET (no overall timeout). `None` when the daemon
    /// answers 404: it has no such stream.
    pub fn stream(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<impl std::io::Read>> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.agent.get(&url).config().timeout_global(None).build();
        for (k, v) in query.iter().filter(|(_, v)| !v.is_empty()) {
            req = req.query(*k, v);
        }
        let mut resp = req.call().map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        if status.as_u16() == 404 {
            return Ok(None);
        }
        if !status.is_success() {
            let body: Value = resp.body_mut().read_json().unwrap_or_default();
            return Err(ApiError::from_answer(status.as_u16(), &body).into());
        }
        Ok(Some(resp.into_body().into_reader()))
    }

    fn unreachable(&self, e: ureq::Error) -> anyhow::Error {
        anyhow!(
            "cannot reach distlogd at {} ({e}); is it running? Start it with `distlogd`, \
             or point --server (or DISTLOG_SERVER) at it",
            self.base
        )
    }
}

/// Builds a path segment from user text, escaping what a URL path may not hold
/// (keys and scope ids keep their `/` and `@`).
pub fn path_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b'@' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
