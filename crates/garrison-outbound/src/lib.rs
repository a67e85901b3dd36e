//! Outbound requests that refuse private targets.
//!
//! Template URLs (installs), URL pulls and notification webhooks can all carry
//! user-editable addresses, so an outbound request must not become a way to reach the
//! node's or the panel's own services or their private network: private, loopback,
//! link-local and similar addresses are refused (by IP literal in the URL with
//! [`check_url`], on every redirect by [`redirect_policy`], and after DNS resolution by
//! [`PublicResolver`], which drops them), unless an admin allows them (a LAN mirror, a
//! webhook receiver on the same host).
//!
//! [`client`] builds a reqwest client with all three in place; callers still call
//! [`check_url`] on the first URL, since a resolver never sees an IP literal.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use reqwest;
pub use reqwest::Url;

/// Why an outbound request was refused or could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// Only `http` and `https` URLs are fetched.
    #[error("{url}: only http and https URLs are allowed, not {scheme:?}")]
    Scheme { url: String, scheme: String },
    /// The URL has no host (`http:///x`, `data:` …).
    #[error("{url}: the URL has no host")]
    NoHost { url: String },
    /// The URL's host is a private or loopback IP literal, or `localhost`.
    #[error("{host} is a private or loopback address; an admin can allow private targets")]
    Private { host: String },
    /// The HTTP client could not be built (TLS set-up).
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// An address anyone on the internet could also reach.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let seg0 = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // unique local fc00::/7, link-local fe80::/10
                || (seg0 & 0xfe00) == 0xfc00
                || (seg0 & 0xffc0) == 0xfe80
                // documentation 2001:db8::/32
                || (seg0 == 0x2001 && v6.segments()[1] == 0x0db8)
                || v6 == Ipv6Addr::LOCALHOST)
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    !(v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        // shared address space (carrier-grade NAT) 100.64.0.0/10
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        // "this network" 0.0.0.0/8 and reserved 240.0.0.0/4
        || o[0] == 0
        || o[0] >= 240)
}

/// `Some(reason)` when the URL's host is an IP literal (or `localhost`) that is not
/// public.
pub fn private_host(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    private_name(host)
}

/// [`private_host`] for a bare host name or IP literal (an SMTP relay's host).
pub fn private_name(host: &str) -> Option<String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return (!is_public(ip)).then(|| host.to_owned());
    }
    let lower = host.to_ascii_lowercase();
    let lower = lower.trim_end_matches('.');
    (lower == "localhost" || lower.ends_with(".localhost")).then(|| host.to_owned())
}

/// The scheme, host and port of a URL, for messages and logs: webhook paths and
/// queries often carry tokens (Discord, Slack) and never appear in an error.
pub fn redact(url: &reqwest::Url) -> String {
    match url.host_str() {
        Some(host) => match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        },
        None => format!("{}:", url.scheme()),
    }
}

/// Check a URL before the first request: `http` or `https` with a host, and (unless
/// `allow_private`) not a private or loopback IP literal nor `localhost`. Names that
/// resolve to private addresses are caught later by [`PublicResolver`].
pub fn check_url(url: &reqwest::Url, allow_private: bool) -> Result<(), OutboundError> {
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(OutboundError::Scheme {
                url: redact(url),
                scheme: other.to_owned(),
            });
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(OutboundError::NoHost { url: redact(url) });
    }
    if !allow_private && let Some(host) = private_host(url) {
        return Err(OutboundError::Private { host });
    }
    Ok(())
}

/// A name whose addresses are all private or loopback, found by [`PublicResolver`]
/// (and by callers that resolve for themselves, like SMTP).
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{host} resolves only to private or loopback addresses; an admin can allow private targets"
)]
pub struct PrivateTarget {
    pub host: String,
}

/// DNS through the system resolver, keeping only public addresses; a name with none is
/// a [`PrivateTarget`] error that says why.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicResolver;

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs = public_addrs(&host, 0).await?;
            let iter: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(iter)
        })
    }
}

/// Resolve `host:port` through the system resolver and keep the public addresses; none
/// left is a [`PrivateTarget`] error.
pub async fn public_addrs(
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await?
        .filter(|a| is_public(a.ip()))
        .collect();
    if addrs.is_empty() {
        return Err(Box::new(PrivateTarget {
            host: host.to_owned(),
        }));
    }
    Ok(addrs)
}

/// Why the redirect policy stopped; found again in the reqwest error's source chain
/// with [`refusal`]. Each keeps the full target URL for callers that own it (an
/// install's download URL); the message shows scheme and host only.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RedirectRefused {
    /// Not http(s), or from https down to http.
    #[error("redirect to {} refused: only https (or http from an http start) is allowed", redact(.0))]
    Insecure(reqwest::Url),
    #[error("too many redirects (more than {0})")]
    TooMany(usize),
    /// A private or loopback IP literal or `localhost`.
    #[error("redirect to {} refused: a private or loopback address; an admin can allow private targets", redact(.0))]
    Private(reqwest::Url),
}

/// The rule [`redirect_policy`] applies to one hop to `next`, after the URLs in
/// `previous` (the first request included): at most `max_redirects` hops, only
/// http(s), never from https down to http (a chain that starts on http may stay on
/// http), and no private or loopback IP literal unless `allow_private`.
pub fn check_redirect(
    next: &reqwest::Url,
    previous: &[reqwest::Url],
    allow_private: bool,
    max_redirects: usize,
) -> Result<(), RedirectRefused> {
    if previous.len() > max_redirects {
        return Err(RedirectRefused::TooMany(max_redirects));
    }
    if !allow_private && private_host(next).is_some() {
        return Err(RedirectRefused::Private(next.clone()));
    }
    let was_https = previous.iter().any(|u| u.scheme() == "https");
    match next.scheme() {
        "https" => Ok(()),
        "http" if !was_https => Ok(()),
        _ => Err(RedirectRefused::Insecure(next.clone())),
    }
}

/// A reqwest redirect policy applying [`check_redirect`] to every hop.
pub fn redirect_policy(allow_private: bool, max_redirects: usize) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        match check_redirect(
            attempt.url(),
            attempt.previous(),
            allow_private,
            max_redirects,
        ) {
            Ok(()) => attempt.follow(),
            Err(e) => attempt.error(e),
        }
    })
}

/// What this guard refused, found in an error's source chain.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// A name that resolved only to private addresses.
    PrivateTarget(PrivateTarget),
    /// A redirect the policy stopped.
    Redirect(RedirectRefused),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::PrivateTarget(e) => e.fmt(f),
            Refusal::Redirect(e) => e.fmt(f),
        }
    }
}

/// The guard's own refusal somewhere in `err`'s source chain (a reqwest error wraps
/// the resolver's and the redirect policy's errors), if that is why it failed. Such a
/// failure will not heal by retrying.
pub fn refusal(err: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<RedirectRefused>() {
            return Some(Refusal::Redirect(r.clone()));
        }
        if let Some(p) = c.downcast_ref::<PrivateTarget>() {
            return Some(Refusal::PrivateTarget(p.clone()));
        }
        cause = c.source();
    }
    None
}

/// How [`client`] builds its client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Allow private, loopback and link-local targets (a LAN mirror, a local receiver).
    pub allow_private: bool,
    /// The whole request, headers and body; `None` for no overall limit (large
    /// downloads, which rely on `read_timeout` instead).
    pub timeout: Option<Duration>,
    /// Establishing the TCP and TLS connection.
    pub connect_timeout: Option<Duration>,
    /// Between two reads of the response.
    pub read_timeout: Option<Duration>,
    pub user_agent: String,
    /// Hops followed before [`RedirectRefused::TooMany`]; 0 follows none.
    pub max_redirects: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            allow_private: false,
            timeout: Some(Duration::from_secs(30)),
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: None,
            user_agent: concat!("Garrison/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_redirects: 5,
        }
    }
}

/// A reqwest client over rustls (aws-lc-rs, platform verifier) with the
/// [`redirect_policy`], no proxy from the environment, no transparent decompression,
/// and (unless `allow_private`) the [`PublicResolver`].
pub fn client(opts: &ClientOptions) -> Result<reqwest::Client, OutboundError> {
    let mut b = reqwest::Client::builder()
        .user_agent(opts.user_agent.as_str())
        .redirect(redirect_policy(opts.allow_private, opts.max_redirects))
        .no_proxy();
    if let Some(t) = opts.timeout {
        b = b.timeout(t);
    }
    if let Some(t) = opts.connect_timeout {
        b = b.connect_timeout(t);
    }
    if let Some(t) = opts.read_timeout {
        b = b.read_timeout(t);
    }
    if !opts.allow_private {
        b = b.dns_resolver(Arc::new(PublicResolver));
    }
    b.build().map_err(OutboundError::Client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "1.1.1.1",
            "140.82.112.3",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    fn u(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    #[test]
    fn literal_hosts_are_checked() {
        assert!(private_host(&u("http://127.0.0.1:8080/x")).is_some());
        assert!(private_host(&u("https://[::1]/x")).is_some());
        assert!(private_host(&u("https://localhost/x")).is_some());
        assert!(private_host(&u("https://metadata.localhost/x")).is_some());
        assert!(private_host(&u("https://example.com/x")).is_none());
        assert!(private_host(&u("https://1.1.1.1/x")).is_none());
        assert!(private_name("localhost.").is_some());
        assert!(private_name("10.0.0.5").is_some());
        assert!(private_name("smtp.example.com").is_none());
    }

    #[test]
    fn check_url_refuses_schemes_and_private_literals() {
        assert!(check_url(&u("https://example.com/hook"), false).is_ok());
        assert!(check_url(&u("http://example.com/hook"), false).is_ok());
        let e = check_url(&u("ftp://example.com/x"), false).unwrap_err();
        assert!(matches!(e, OutboundError::Scheme { .. }), "{e}");
        assert!(e.to_string().contains("only http and https"), "{e}");
        let e = check_url(&u("http://127.0.0.1:9/secret-token"), false).unwrap_err();
        assert!(matches!(e, OutboundError::Private { .. }), "{e}");
        assert!(e.to_string().contains("an admin can allow private targets"));
        assert!(!e.to_string().contains("secret-token"));
        assert!(check_url(&u("http://127.0.0.1:9/x"), true).is_ok());
        assert!(check_url(&u("http://localhost/x"), true).is_ok());
        assert!(check_url(&u("file:///etc/passwd"), true).is_err());
    }

    #[test]
    fn redirect_rule_refuses_private_insecure_and_long_chains() {
        let start = [u("https://hooks.example.com/a")];
        // An allowed public target redirecting to loopback: refused unless allowed.
        let to_loopback = u("http://127.0.0.1:8080/admin");
        let e = check_redirect(&to_loopback, &start, false, 5).unwrap_err();
        assert!(matches!(e, RedirectRefused::Private(_)), "{e}");
        assert!(!e.to_string().contains("/admin"), "{e}");
        let e = check_redirect(&u("https://[::1]/x"), &start, false, 5).unwrap_err();
        assert!(matches!(e, RedirectRefused::Private(_)), "{e}");
        let e = check_redirect(&u("https://localhost/x"), &start, false, 5).unwrap_err();
        assert!(matches!(e, RedirectRefused::Private(_)), "{e}");
        assert!(check_redirect(&u("https://127.0.0.1/x"), &start, true, 5).is_ok());
        // Schemes and downgrades.
        assert!(check_redirect(&u("https://cdn.example.com/b"), &start, false, 5).is_ok());
        let e = check_redirect(&u("http://cdn.example.com/b"), &start, false, 5).unwrap_err();
        assert!(matches!(e, RedirectRefused::Insecure(_)), "{e}");
        let e = check_redirect(&u("ftp://cdn.example.com/b"), &start, false, 5).unwrap_err();
        assert!(matches!(e, RedirectRefused::Insecure(_)), "{e}");
        let plain = [u("http://mirror.example.com/a")];
        assert!(check_redirect(&u("http://mirror.example.com/b"), &plain, false, 5).is_ok());
        // Hop count: `previous` holds the first URL too.
        let chain: Vec<_> = (0..3).map(|i| u(&format!("https://e.com/{i}"))).collect();
        assert!(check_redirect(&u("https://e.com/x"), &chain, false, 2).is_err());
        assert!(check_redirect(&u("https://e.com/x"), &chain, false, 3).is_ok());
    }

    #[test]
    fn redact_keeps_scheme_host_and_port() {
        assert_eq!(
            redact(&u("https://discord.com/api/webhooks/1/tok?x=1")),
            "https://discord.com"
        );
        assert_eq!(
            redact(&u("http://127.0.0.1:8080/t")),
            "http://127.0.0.1:8080"
        );
    }

    #[tokio::test]
    async fn resolver_refuses_localhost_and_refusal_is_found() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let err = match PublicResolver.resolve(name).await {
            Ok(_) => panic!("localhost resolved to a public address"),
            Err(e) => e,
        };
        assert!(
            err.to_string().contains("resolves only to private"),
            "{err}"
        );
        let r = refusal(err.as_ref()).expect("a refusal");
        assert!(matches!(r, Refusal::PrivateTarget(_)));
    }

    /// Answers every request on `listener` with `response`; counts connections.
    fn serve(
        listener: tokio::net::TcpListener,
        response: String,
    ) -> Arc<std::sync::atomic::AtomicUsize> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = s.write_all(response.as_bytes()).await;
                let _ = s.shutdown().await;
            }
        });
        hits
    }

    #[tokio::test]
    async fn redirect_to_loopback_is_refused_end_to_end() {
        // The first hop must be loopback too in a test, so this client has the redirect
        // policy without the resolver; the redirect target is a second listener.
        let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target_port = target.local_addr().unwrap().port();
        let target_hits = serve(
            target,
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
        );
        let first = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let first_port = first.local_addr().unwrap().port();
        let first_hits = serve(
            first,
            format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{target_port}/internal\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        );
        let c = reqwest::Client::builder()
            .redirect(redirect_policy(false, 5))
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let err = c
            .post(format!("http://127.0.0.1:{first_port}/hook"))
            .body("{}")
            .send()
            .await
            .unwrap_err();
        let r = refusal(&err).expect("the policy's refusal in the chain");
        assert!(
            matches!(r, Refusal::Redirect(RedirectRefused::Private(_))),
            "{r}"
        );
        assert!(
            r.to_string().contains("an admin can allow private targets"),
            "{r}"
        );
        assert_eq!(first_hits.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(target_hits.load(std::sync::atomic::Ordering::SeqCst), 0);

        // The same chain with private targets allowed reaches the target.
        let c = client(&ClientOptions {
            allow_private: true,
            timeout: Some(Duration::from_secs(5)),
            ..ClientOptions::default()
        })
        .unwrap();
        let resp = c
            .post(format!("http://127.0.0.1:{first_port}/hook"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(target_hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn client_refuses_a_name_resolving_to_loopback() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = tokio::spawn(async move {
            tokio::time::timeout(Duration::from_millis(500), listener.accept())
                .await
                .is_ok()
        });
        let c = client(&ClientOptions {
            timeout: Some(Duration::from_secs(5)),
            ..ClientOptions::default()
        })
        .unwrap();
        let err = c
            .get(format!("http://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(refusal(&err), Some(Refusal::PrivateTarget(_))),
            "{err:?}"
        );
        assert!(
            !accepted.await.unwrap(),
            "a connection reached the listener"
        );
    }
}
