//! HTML that pages of ours show: escaping for text and attribute values.

pub use crate::domain::html::escape;

/// A small page readable on a phone, with no script and no outside resource.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;\
padding:0 1rem;line-height:1.5}}button{{font-size:1rem;padding:.6rem 1.2rem;margin:.3rem}}\
code{{background:#f3f3f3;padding:0 .2rem}}</style></head><body>{body}</body></html>",
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
