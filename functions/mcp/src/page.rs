//! `GET /mcp` for a person with a browser: what this server is and how to add it.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use dotm::domain::catalog::{self, Category};
use dotm::web::Problem;
use dotm::web::html::escape;

use crate::App;

/// The MCP URL as the caller reached it: API Gateway says `https` in `X-Forwarded-Proto`.
fn mcp_url(headers: &HeaderMap) -> String {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text("host").unwrap_or("127.0.0.1:3000");
    let loopback =
        host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
    let scheme = text("x-forwarded-proto").unwrap_or(if loopback { "http" } else { "https" });
    format!("{scheme}://{host}/mcp")
}

pub async fn show(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    if wants_stream {
        // Stateless server: there is no stream for a client to listen on.
        let mut response = Problem::method_not_allowed(
            "this MCP server is stateless and opens no event stream; send requests with POST /mcp",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return response;
    }
    Html(render(&app, &mcp_url(&headers))).into_response()
}

fn render(app: &App, url: &str) -> String {
    let url = escape(url);
    let mut tools = String::new();
    for (name, description) in app.server.tool_summaries() {
        let _ = write!(
            tools,
            "<li><code>{}</code> — {}</li>",
            escape(&name),
            escape(&description)
        );
    }
    let mut services = String::new();
    for category in Category::ALL {
        let _ = write!(services, "<h3>{}</h3><table>", escape(category.name()));
        for s in catalog::in_category(category) {
            let _ = write!(
                services,
                "<tr><td><code>{}</code></td><td>{}</td><td class=price>{}</td><td>{}</td></tr>",
                escape(s.id),
                escape(s.name),
                escape(&s.price.display()),
                escape(s.billing_note)
            );
        }
        services.push_str("</table>");
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>DOTM MCP server</title>
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}
code,pre{{background:#f3f3f3;border-radius:4px;padding:.1rem .3rem}}pre{{padding:.8rem;overflow-x:auto}}
table{{border-collapse:collapse;width:100%}}td{{border-bottom:1px solid #ddd;padding:.3rem}}.price{{text-align:right}}</style>
</head><body>
<h1>DOTM MCP server</h1>
<p>Global eSIM data, network add-ons and memberships, with DOTM token cashback — for AI assistants
(ChatGPT, Claude, Gemini, any MCP client).</p>
<h2>Add it to your assistant</h2>
<p>MCP URL (Streamable HTTP): <code id="mcp-url">{url}</code></p>
<p>Claude Code: <code>claude mcp add --transport http dotm {url}</code></p>
<p>Client configuration (<code>mcp.json</code>, Claude Desktop, Cursor, ...):</p>
<pre>{{
  "mcpServers": {{
    "dotm": {{ "type": "http", "url": "{url}" }}
  }}
}}</pre>
<p>Older clients can post JSON-RPC to <code>{url}/v2/messages</code>.</p>
<h2>Tools</h2><ul>{tools}</ul>
<h2>Services</h2>{services}
<h2>For developers</h2>
<ul><li><a href="/mcp/api"><code>GET /mcp/api</code></a> — the whole catalog</li>
<li><a href="/mcp/service/global_data_10gb"><code>GET /mcp/service/&lt;id&gt;</code></a> — one service</li>
<li><a href="/mcp/calculate?services=basic_membership,network_security"><code>GET /mcp/calculate?services=a,b</code></a> — pricing</li></ul>
</body></html>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_follows_the_gateway() {
        let mut h = HeaderMap::new();
        h.insert(
            "host",
            "abc.execute-api.eu-west-1.amazonaws.com".parse().unwrap(),
        );
        assert_eq!(
            mcp_url(&h),
            "https://abc.execute-api.eu-west-1.amazonaws.com/mcp"
        );
        h.insert("host", "127.0.0.1:3000".parse().unwrap());
        assert_eq!(mcp_url(&h), "http://127.0.0.1:3000/mcp");
    }
}
