//! `tools/call calculate_pricing`: in-process latency (p50/p99) and requests per second over
//! local HTTP, each against a named peer measured in the same run:
//! - in-process peer: `dotm::domain::pricing::quote` + JSON encoding, the same work without MCP;
//! - HTTP peer: `GET /mcp/calculate`, the same answer through the plain REST endpoint.
//!
//! Run: `make bench` (or `cargo bench -p mcp --bench tools_call`). Prints numbers; asserts nothing.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::ServiceExt;

const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"calculate_pricing","arguments":{"services":["basic_membership","network_security","global_data_10gb"]}}}"#;
const REST: &str = "/mcp/calculate?services=basic_membership,network_security,global_data_10gb";
const IN_PROCESS_CALLS: usize = 5_000;
const HTTP_SECONDS: u64 = 3;
const HTTP_CONCURRENCY: usize = 16;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct Stats {
    p50: Duration,
    p99: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    Stats {
        p50: percentile(&samples, 0.50),
        p99: percentile(&samples, 0.99),
    }
}

fn mcp_post(uri: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .body(Body::from(CALL))
        .expect("valid request")
}

async fn in_process() -> (Stats, Stats) {
    let router = mcp::router(mcp::Config::local(), common::backend());
    let mut mcp_samples = Vec::with_capacity(IN_PROCESS_CALLS);
    for i in 0..IN_PROCESS_CALLS + 200 {
        let start = Instant::now();
        let response = router
            .clone()
            .oneshot(mcp_post("/mcp"))
            .await
            .expect("infallible");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let elapsed = start.elapsed();
        assert!(
            body.windows(17).any(|w| w == b"monthly_recurring"),
            "unexpected answer"
        );
        if i >= 200 {
            mcp_samples.push(elapsed);
        }
    }
    let rate = dotm::domain::rewards::CashbackRate::default();
    let ids = ["basic_membership", "network_security", "global_data_10gb"];
    let mut direct_samples = Vec::with_capacity(IN_PROCESS_CALLS);
    for _ in 0..IN_PROCESS_CALLS {
        let start = Instant::now();
        let quote = dotm::domain::pricing::quote(&ids, &rate).expect("known ids");
        let json = serde_json::to_vec(&quote).expect("encodes");
        std::hint::black_box(json);
        direct_samples.push(start.elapsed());
    }
    (stats(mcp_samples), stats(direct_samples))
}

/// Requests per second from `HTTP_CONCURRENCY` connections for `HTTP_SECONDS`.
async fn http_rps(base: &str, make: fn(&str) -> Request<Body>) -> f64 {
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();
    let deadline = Instant::now() + Duration::from_secs(HTTP_SECONDS);
    let mut tasks = Vec::new();
    for _ in 0..HTTP_CONCURRENCY {
        let client = client.clone();
        let base = base.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                let response = client.request(make(&base)).await.expect("server answers");
                assert!(
                    response.status().is_success(),
                    "status {}",
                    response.status()
                );
                response.into_body().collect().await.expect("body");
                done += 1;
            }
            done
        }));
    }
    let started = Instant::now();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn post_call(base: &str) -> Request<Body> {
    mcp_post(&format!("{base}/mcp"))
}

fn get_rest(base: &str) -> Request<Body> {
    Request::get(format!("{base}{REST}"))
        .header(header::HOST, "127.0.0.1:3000")
        .body(Body::empty())
        .expect("valid request")
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

#[tokio::main]
async fn main() {
    let (mcp, direct) = in_process().await;
    println!("in-process, {IN_PROCESS_CALLS} calls each");
    println!(
        "  tools/call calculate_pricing (router + rmcp): p50 {}  p99 {}",
        us(mcp.p50),
        us(mcp.p99)
    );
    println!(
        "  peer: dotm::domain::pricing::quote + JSON          : p50 {}  p99 {}",
        us(direct.p50),
        us(direct.p99)
    );
    println!(
        "  ratio (MCP / direct): p50 {:.1}x  p99 {:.1}x",
        mcp.p50.as_secs_f64() / direct.p50.as_secs_f64(),
        mcp.p99.as_secs_f64() / direct.p99.as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let app = mcp::router(mcp::Config::local(), common::backend());
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    let mcp_rps = http_rps(&base, post_call).await;
    let rest_rps = http_rps(&base, get_rest).await;
    println!("local HTTP/1.1, {HTTP_CONCURRENCY} connections, {HTTP_SECONDS} s each");
    println!("  POST /mcp tools/call calculate_pricing: {mcp_rps:.0} req/s");
    println!("  peer: GET /mcp/calculate             : {rest_rps:.0} req/s");
    println!("  ratio (MCP / REST): {:.2}", mcp_rps / rest_rps);
}
