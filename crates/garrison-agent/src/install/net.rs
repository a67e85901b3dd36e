//! Which addresses an install may fetch from. Template URLs can carry user-editable
//! variables, so a download must not become a way to reach the node's own services or
//! its private network: private, loopback, link-local and similar addresses are refused
//! (by IP literal in the URL and on every redirect, and after DNS resolution by a
//! resolver that drops them), unless the node's settings allow them (a LAN mirror).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

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
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return (!is_public(ip)).then(|| host.to_owned());
    }
    let lower = host.to_ascii_lowercase();
    (lower == "localhost" || lower.ends_with(".localhost")).then(|| host.to_owned())
}

/// DNS through the system resolver, keeping only public addresses; a name with none is
/// an error that says why.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicResolver;

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "{host} resolves only to private or loopback addresses, which installs may not fetch from"
                )
                .into());
            }
            let iter: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(iter)
        })
    }
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

    #[test]
    fn literal_hosts_are_checked() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(private_host(&u("http://127.0.0.1:8080/x")).is_some());
        assert!(private_host(&u("https://[::1]/x")).is_some());
        assert!(private_host(&u("https://localhost/x")).is_some());
        assert!(private_host(&u("https://metadata.localhost/x")).is_some());
        assert!(private_host(&u("https://example.com/x")).is_none());
        assert!(private_host(&u("https://1.1.1.1/x")).is_none());
    }
}
