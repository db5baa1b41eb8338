//! The web UI (see docs/web-ui.md): one HTML page, its scripts and styles,
//! all embedded in the binary and served next to the JSON API. The page
//! reads everything it shows from the API; nothing here touches the store.
//!
//! | path | answer |
//! |---|---|
//! | `/`, `/tasks/{id}`, `/tail`, `/levels` | the page; the script routes on the path |
//! | `/`, `/tasks/{id}`, `/tail`, `/scopes` | the page; the script routes on the path |
//! | `/assets/{name}` | an embedded asset |
//!
//! `{id}` is a root id, a scope id or a record key, as `/api/tree/{id}`
//! takes: so a link can point at a task, a branch or one record.

use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One embedded file.
struct Asset {
    name: &'static str,
    mime: &'static str,
    body: &'static [u8],
    /// A strong validator computed at compile time from the bytes.
    etag: u64,
}

macro_rules! asset {
    ($name:literal, $mime:expr) => {
        Asset {
            name: $name,
            mime: $mime,
            body: include_bytes!(concat!("assets/", $name)),
            etag: fnv1a(include_bytes!(concat!("assets/", $name))),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file under `assets/` that the page loads.
static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("util.js", JS),
    asset!("details.js", JS),
    asset!("tasks.js", JS),
    asset!("tree.js", JS),
    asset!("paged.js", JS),
    asset!("timeline.js", JS),
    asset!("tail.js", JS),
    asset!("levels.js", JS),
    asset!("scopes.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
];

/// Scripts, styles, fetches and images from this origin only: the page
/// never reaches the network beyond the daemon that served it.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
    script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The UI's routes, to merge into the API's router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/tail", get(page))
        .route("/levels", get(page))
        .route("/scopes", get(page))
        .route("/tasks/{*id}", get(page))
        .route("/assets/{*name}", get(asset))
}

async fn page(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    if name == "index.html" {
        // The page lives at its routes only, so there is one URL per view.
        return StatusCode::NOT_FOUND.into_response();
    }
    serve(&name, &headers)
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let etag = format!("\"{:016x}\"", asset.etag);
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(CONTENT_TYPE, asset.mime)], asset.body).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, v);
    }
    // Revalidate every time: a new daemon binary brings new assets under
    // the same names, and the 304 costs little on the daemon's own host.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `/assets/…` the page names and every module a script imports
    /// is embedded; nothing is fetched from elsewhere.
    #[test]
    fn every_asset_the_page_loads_is_embedded() {
        let text = |name: &str| {
            let a = ASSETS.iter().find(|a| a.name == name).expect(name);
            std::str::from_utf8(a.body).expect("utf-8")
        };
        let mut wanted = Vec::new();
        for piece in text("index.html").split("/assets/").skip(1) {
            let end = piece.find('"').expect("a quoted asset path");
            wanted.push(piece[..end].to_owned());
        }
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let src = text(a.name);
            assert!(
                !src.contains("http://") && !src.contains("https://"),
                "{}",
                a.name
            );
            for piece in src.split("from './").skip(1) {
                let end = piece.find('\'').expect("a quoted module path");
                wanted.push(piece[..end].to_owned());
            }
        }
        assert!(wanted.len() > 3, "{wanted:?}");
        for name in wanted {
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "{name} is not embedded"
            );
        }
    }

    #[test]
    fn assets_have_distinct_validators() {
        let mut tags: Vec<u64> = ASSETS.iter().map(|a| a.etag).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
    }

    #[test]
    fn routes_serve_the_page_assets_and_revalidation() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app: Router = router();
        std::thread::spawn(move || rt.block_on(async { axum::serve(listener, app).await }));

        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let get = |path: &str| {
            agent
                .get(&format!("http://{addr}{path}"))
                .call()
                .expect("request")
        };
        for path in [
            "/",
            "/tail",
            "/tasks/e252",
            "/tasks/e252/1/3",
            "/tasks/2@e252/1",
        ] {
            let mut r = get(path);
            assert_eq!(r.status(), 200, "{path}");
            let ct = r.headers()[CONTENT_TYPE]
                .to_str()
                .expect("ascii")
                .to_owned();
            assert!(ct.starts_with("text/html"), "{path}: {ct}");
            let body = r.body_mut().read_to_string().expect("body");
            assert!(body.contains("/assets/app.js"), "{path}");
        }
        let r = get("/assets/app.js");
        assert_eq!(r.status(), 200);
        assert!(r.headers()[CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/javascript"));
        assert!(r.headers().contains_key(CONTENT_SECURITY_POLICY));
        let etag = r.headers()[ETAG].to_str().expect("ascii").to_owned();
        let again = agent
            .get(&format!("http://{addr}/assets/app.js"))
            .header("If-None-Match", &etag)
            .call()
            .expect("request");
        assert_eq!(again.status(), 304);
        assert_eq!(get("/assets/nothing.js").status(), 404);
        assert_eq!(get("/assets/index.html").status(), 404);
    }
}
