//! Client ID Metadata Documents (the MCP authorization spec's preferred registration since
//! 2025-11-25): the `client_id` is an HTTPS URL whose JSON names the client and its redirect
//! URIs. Fetched with a timeout, a size cap and no redirects, and cached for a few minutes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::RwLock;

use crate::domain::oauth::ClientMetadataDocument;
use crate::ports::{ClientMetadataFetcher, Unavailable};

const MAX_BYTES: usize = 64 * 1024;
const CACHE_FOR: Duration = Duration::from_secs(300);

/// What a URL answered (the document, or why it cannot be used), and when.
type Fetched = (Result<ClientMetadataDocument, String>, Instant);

pub struct HttpClientMetadata {
    http: reqwest::Client,
    cache: RwLock<HashMap<String, Fetched>>,
}

impl HttpClientMetadata {
    pub fn new() -> Result<Self, Unavailable> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Unavailable::new("http client", e))?;
        Ok(HttpClientMetadata {
            http,
            cache: RwLock::new(HashMap::new()),
        })
    }

    async fn load(&self, url: &str) -> Result<ClientMetadataDocument, String> {
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("could not fetch the client metadata document: {e}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "the client metadata document answered HTTP {}",
                response.status().as_u16()
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("could not read the client metadata document: {e}"))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BYTES {
                return Err(format!(
                    "the client metadata document is over {MAX_BYTES} bytes"
                ));
            }
        }
        serde_json::from_slice(&body)
            .map_err(|e| format!("the client metadata document is not the expected JSON: {e}"))
    }
}

#[async_trait]
impl ClientMetadataFetcher for HttpClientMetadata {
    async fn fetch(&self, url: &str) -> Result<ClientMetadataDocument, String> {
        if let Some((doc, at)) = self.cache.read().await.get(url)
            && at.elapsed() < CACHE_FOR
        {
            return doc.clone();
        }
        let doc = self.load(url).await;
        let mut cache = self.cache.write().await;
        if cache.len() > 1_000 {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_FOR);
        }
        cache.insert(url.to_owned(), (doc.clone(), Instant::now()));
        doc
    }
}
