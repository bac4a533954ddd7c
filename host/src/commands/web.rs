//! `okta-normalizer web`: serves the browser playground (the static directory `scripts/web`
//! builds) on localhost. The page runs the core itself, compiled to wasm; this is only a file
//! server, with the MIME types the page needs (`application/wasm`, ES modules) and a content
//! security policy that keeps the page from reaching any other host.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::cli::WebArgs;

/// What the page may load: itself only (wasm compilation needs `wasm-unsafe-eval`).
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'";

pub(super) fn run(args: &WebArgs) -> Result<ExitCode> {
    let dir = args.dir.clone();
    if !dir.join("index.html").is_file() || !dir.join("pkg").is_dir() {
        bail!(
            "the playground is not built in {} (no index.html and pkg/ there); build it with ./scripts/web \
             from the repository root, or pass --dir with the directory it built",
            dir.display()
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("while listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        // Tests read this line for the port.
        println!("okta-normalizer: playground at http://{addr}/ (serving {}); Ctrl-C stops it", dir.display());
        axum::serve(listener, router(dir))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("while serving the playground")?;
        Ok(ExitCode::SUCCESS)
    })
}

fn router(dir: PathBuf) -> Router {
    Router::new().fallback(serve_file).with_state(dir)
}

async fn serve_file(State(dir): State<PathBuf>, uri: Uri) -> Response {
    let Some(path) = resolve(&dir, uri.path()) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    match tokio::fs::read(&path).await {
        Ok(body) => {
            let mut response = body.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime(&path)));
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        Err(_) => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// The file under `dir` that a request path names (`/` is `index.html`), or `None` for a path
/// that would leave `dir` or does not name a file.
fn resolve(dir: &Path, request: &str) -> Option<PathBuf> {
    let relative = request.trim_start_matches('/');
    let relative = if relative.is_empty() { "index.html" } else { relative };
    let relative = Path::new(relative);
    if !relative.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let path = dir.join(relative);
    path.is_file().then_some(path)
}

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "txt" | "ndjson" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_directory() {
        let dir = std::env::temp_dir().join(format!("okta-web-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("pkg")).unwrap();
        std::fs::write(dir.join("index.html"), "<!doctype html>").unwrap();
        std::fs::write(dir.join("pkg/x_bg.wasm"), b"\0asm").unwrap();
        assert_eq!(resolve(&dir, "/"), Some(dir.join("index.html")));
        assert_eq!(resolve(&dir, "/pkg/x_bg.wasm"), Some(dir.join("pkg/x_bg.wasm")));
        assert_eq!(resolve(&dir, "/../etc/passwd"), None);
        assert_eq!(resolve(&dir, "/pkg/../../x"), None);
        assert_eq!(resolve(&dir, "/missing.js"), None);
        assert_eq!(resolve(&dir, "/pkg"), None);
        assert_eq!(mime(Path::new("a/b_bg.wasm")), "application/wasm");
        assert_eq!(mime(Path::new("app.js")), "text/javascript; charset=utf-8");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
