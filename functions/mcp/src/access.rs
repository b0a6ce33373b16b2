//! Which `Host` and `Origin` may reach the MCP endpoint (DNS-rebinding and CSRF protection).

/// An allowed origin must be `scheme://host[:port]`, like the browser sends it.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an origin: write it as scheme://host[:port], e.g. https://claude.ai")]
pub struct BadOrigin(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

fn parse_origin(text: &str) -> Option<Origin> {
    let text = text.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = text.split_once("://")?;
    let default_port = match scheme {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    if rest.is_empty() || rest.contains('/') {
        return None;
    }
    let (host, port) = split_host_port(rest);
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    Some(Origin {
        scheme: scheme.to_owned(),
        host: host.to_owned(),
        port,
    })
}

/// Splits `host[:port]`, keeping IPv6 literals (`[::1]:3000`) whole.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (authority, None),
    }
}

#[derive(Debug, Clone)]
pub struct Access {
    hosts: Vec<String>,
    origins: Vec<Origin>,
}

impl Access {
    pub fn new(hosts: Vec<String>, origins: Vec<String>) -> Result<Access, BadOrigin> {
        let origins = origins
            .into_iter()
            .map(|o| parse_origin(&o).ok_or(BadOrigin(o)))
            .collect::<Result<_, _>>()?;
        let hosts = hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect();
        Ok(Access { hosts, origins })
    }

    /// An entry without a port allows that host on any port; with a port, only that one.
    pub fn host_allowed(&self, host_header: &str) -> bool {
        let authority = host_header.trim().to_ascii_lowercase();
        let (host, port) = split_host_port(&authority);
        self.hosts.iter().any(|allowed| {
            let (a_host, a_port) = split_host_port(allowed);
            a_host == host && (a_port.is_none() || a_port == port)
        })
    }

    pub fn origin_allowed(&self, origin_header: &str) -> bool {
        parse_origin(origin_header).is_some_and(|o| self.origins.contains(&o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> Access {
        Access::new(
            vec![
                "abc.execute-api.us-east-1.amazonaws.com".into(),
                "127.0.0.1:3000".into(),
                "::1".into(),
            ],
            vec!["https://claude.ai".into(), "http://localhost:6274".into()],
        )
        .unwrap()
    }

    #[test]
    fn hosts_match_with_or_without_port() {
        let a = access();
        assert!(a.host_allowed("abc.execute-api.us-east-1.amazonaws.com"));
        assert!(a.host_allowed("ABC.execute-api.us-east-1.amazonaws.com:443"));
        assert!(a.host_allowed("127.0.0.1:3000"));
        assert!(!a.host_allowed("127.0.0.1:3001"));
        assert!(a.host_allowed("[::1]:9000"));
        assert!(!a.host_allowed("evil.example"));
        assert!(!a.host_allowed(""));
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        let a = access();
        assert!(a.origin_allowed("https://claude.ai"));
        assert!(a.origin_allowed("https://claude.ai:443"));
        assert!(!a.origin_allowed("http://claude.ai"));
        assert!(a.origin_allowed("http://localhost:6274"));
        assert!(!a.origin_allowed("http://localhost:6275"));
        assert!(!a.origin_allowed("https://evil.example"));
        assert!(!a.origin_allowed("null"));
    }

    #[test]
    fn a_bad_allowed_origin_is_refused_at_start() {
        assert!(Access::new(vec![], vec!["claude.ai".into()]).is_err());
        assert!(Access::new(vec![], vec!["ftp://x".into()]).is_err());
    }
}
