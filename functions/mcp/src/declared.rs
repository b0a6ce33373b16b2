//! What the client said it can do, for the request at hand, on a server without sessions.
//!
//! 2026-07-28 clients declare their capabilities in every request's `_meta`. Older clients
//! declare them once, in `initialize`; so the answer to `initialize` carries them back as the
//! `Mcp-Session-Id`, which those clients echo on every later request. The id is the client's
//! own declaration, encoded, not a secret or a server record: a client that forges it only
//! changes how its own answers are shaped (a card instead of text, a URL elicitation instead
//! of a link), never what it may do.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The MCP Apps extension, and the content type of its cards.
pub const APPS_EXTENSION: &str = "io.modelcontextprotocol/ui";
pub const APP_MIME: &str = "text/html;profile=mcp-app";
const CAPABILITIES_META: &str = "io.modelcontextprotocol/clientCapabilities";
const VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";
const SESSION_HEADER: &str = "mcp-session-id";
const SESSION_PREFIX: &str = "dotm1.";
/// The revision whose clients answer `input_required` results (multi-round-trip requests).
pub const MRTR_VERSION: &str = "2026-07-28";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declared {
    /// Renders `ui://` cards (MCP Apps).
    #[serde(rename = "a")]
    pub apps: bool,
    /// Opens URLs the server asks it to (URL-mode elicitation).
    #[serde(rename = "u")]
    pub url_elicitation: bool,
    /// Speaks 2026-07-28 or later, so it drives `input_required` rounds.
    #[serde(skip)]
    pub multi_round: bool,
}

impl Declared {
    /// From a `ClientCapabilities` object.
    pub fn from_capabilities(capabilities: &Value) -> Declared {
        let apps = capabilities
            .pointer(&format!(
                "/extensions/{}",
                APPS_EXTENSION.replace('/', "~1")
            ))
            .is_some_and(|ui| {
                // A client that names its card types must name ours; one that names none takes
                // the only type the extension defines.
                ui.get("mimeTypes")
                    .and_then(Value::as_array)
                    .is_none_or(|types| types.iter().any(|t| t == APP_MIME))
            });
        let url_elicitation = capabilities.pointer("/elicitation/url").is_some();
        Declared {
            apps,
            url_elicitation,
            multi_round: false,
        }
    }

    /// The `Mcp-Session-Id` that carries this declaration to the client's later requests.
    pub fn session_id(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{SESSION_PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    fn from_session_id(id: &str) -> Option<Declared> {
        let encoded = id.strip_prefix(SESSION_PREFIX)?;
        if encoded.len() > 256 {
            return None;
        }
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()
    }

    /// What the client of this request declared: its `_meta` (2026-07-28), else the session id
    /// it echoes, else nothing.
    pub fn for_request(headers: &HeaderMap, message: &Value) -> Declared {
        let meta = message.pointer("/params/_meta");
        let version = meta
            .and_then(|m| m.get(VERSION_META))
            .and_then(Value::as_str)
            .or_else(|| {
                headers
                    .get("mcp-protocol-version")
                    .and_then(|v| v.to_str().ok())
            })
            .unwrap_or_default();
        let multi_round = version >= MRTR_VERSION;
        if let Some(capabilities) = meta.and_then(|m| m.get(CAPABILITIES_META)) {
            return Declared {
                multi_round,
                ..Declared::from_capabilities(capabilities)
            };
        }
        let from_session = headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(Declared::from_session_id)
            .unwrap_or_default();
        Declared {
            multi_round,
            ..from_session
        }
    }
}

/// Removes the session header before rmcp sees the request: rmcp runs without sessions and
/// would refuse an id it did not issue.
pub fn strip_session(headers: &mut HeaderMap) {
    headers.remove(SESSION_HEADER);
}

pub fn session_header() -> &'static str {
    SESSION_HEADER
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_apps_extension_and_url_elicitation() {
        let d = Declared::from_capabilities(&json!({
            "extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": [APP_MIME]}},
            "elicitation": {"url": {}}
        }));
        assert!(d.apps && d.url_elicitation);
        let d = Declared::from_capabilities(&json!({
            "extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html+other"]}},
            "elicitation": {"form": {}}
        }));
        assert!(!d.apps && !d.url_elicitation);
    }

    #[test]
    fn the_session_id_carries_the_declaration_and_nothing_else_parses() {
        let d = Declared {
            apps: true,
            url_elicitation: false,
            multi_round: false,
        };
        let mut headers = HeaderMap::new();
        headers.insert(SESSION_HEADER, d.session_id().parse().unwrap());
        assert_eq!(Declared::for_request(&headers, &json!({})), d);
        for bad in ["x", "dotm1.!!", "dotm1.e30", "dotm1."] {
            headers.insert(SESSION_HEADER, bad.parse().unwrap());
            let found = Declared::for_request(&headers, &json!({}));
            assert!(!found.apps && !found.url_elicitation, "{bad}");
        }
    }

    #[test]
    fn a_2026_client_is_read_from_the_request() {
        let message = json!({"params": {"_meta": {
            VERSION_META: "2026-07-28",
            CAPABILITIES_META: {"elicitation": {"url": {}}}
        }}});
        let d = Declared::for_request(&HeaderMap::new(), &message);
        assert!(d.multi_round && d.url_elicitation && !d.apps);
    }
}
