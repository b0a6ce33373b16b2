//! Firebase: the project is named, and the keys its ID tokens are signed with can be fetched
//! from where the functions fetch them.

use std::time::Duration;

use dotm::config::Config;

use super::{Row, Status};

const P: &str = "firebase";

pub(super) async fn check(config: &Config) -> Vec<Row> {
    let project = match config.firebase_project_id.as_deref() {
        Some(p) if !p.trim().is_empty() => {
            Row::new(P, "project", Status::Ok, format!("FIREBASE_PROJECT_ID {p}"))
        }
        _ => Row::new(P, "project", Status::Fail, "FIREBASE_PROJECT_ID is not set"),
    };
    let url = &config.firebase_jwks_url;
    let keys = match fetch_keys(url).await {
        Ok(0) => Row::new(
            P,
            "signing keys",
            Status::Fail,
            format!("FIREBASE_JWKS_URL {url} lists no keys"),
        ),
        Ok(n) => Row::new(P, "signing keys", Status::Ok, format!("{n} keys at {url}")),
        Err(e) => Row::new(
            P,
            "signing keys",
            Status::Fail,
            format!("FIREBASE_JWKS_URL {url}: {e}"),
        ),
    };
    vec![project, keys]
}

/// How many RSA keys with a `kid` the JWKS lists.
async fn fetch_keys(url: &str) -> Result<usize, String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let response = http.get(url).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let jwks: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    let keys = jwks
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("not a JWKS (no `keys`)")?;
    Ok(keys
        .iter()
        .filter(|k| k.get("kty").and_then(|t| t.as_str()) == Some("RSA") && k.get("kid").is_some())
        .count())
}
