//! Text for HTML (pages and emails): escaping, with no other dependency, so the use cases
//! that write mail and the web edge that serves pages share one.

/// Escapes `& < > " '` so text from a client or a person can sit in text and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
