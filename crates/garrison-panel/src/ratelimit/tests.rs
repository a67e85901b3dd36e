use super::*;
use axum::http::HeaderValue;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn xff(values: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
    }
    h
}

fn nets(v: &[&str]) -> Vec<IpNet> {
    v.iter().map(|s| parse_trusted_proxy(s).unwrap()).collect()
}

#[test]
fn trusted_proxy_parsing() {
    assert_eq!(
        parse_trusted_proxy("10.0.0.0/8").unwrap().to_string(),
        "10.0.0.0/8"
    );
    assert_eq!(
        parse_trusted_proxy(" 127.0.0.1 ").unwrap().to_string(),
        "127.0.0.1/32"
    );
    assert_eq!(parse_trusted_proxy("::1").unwrap().to_string(), "::1/128");
    // Host bits are dropped: 10.1.2.3/8 means 10.0.0.0/8.
    assert_eq!(
        parse_trusted_proxy("10.1.2.3/8").unwrap().to_string(),
        "10.0.0.0/8"
    );
    for bad in ["", "nope", "10.0.0.0/33", "1.2.3.4:80", "10.0.0.0/"] {
        let e = parse_trusted_proxy(bad).unwrap_err();
        assert!(e.contains("not an IP address"), "{bad}: {e}");
    }
}

#[test]
fn client_ip_is_the_peer_unless_it_is_a_trusted_proxy() {
    let none: Vec<IpNet> = Vec::new();
    let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);

    // No proxies configured: X-Forwarded-For is ignored (anyone can send it).
    assert_eq!(
        client_ip(&none, ip("203.0.113.9"), &xff(&["1.1.1.1"])),
        ip("203.0.113.9")
    );
    // A spoofed header from an untrusted peer is ignored even with proxies configured.
    assert_eq!(
        client_ip(&trusted, ip("203.0.113.9"), &xff(&["127.0.0.1, 10.0.0.5"])),
        ip("203.0.113.9")
    );
    // Trusted peer: the right-most untrusted hop. What the client put left of it
    // (here a forged 6.6.6.6) does not matter.
    assert_eq!(
        client_ip(
            &trusted,
            ip("127.0.0.1"),
            &xff(&["6.6.6.6, 198.51.100.7, 10.0.0.2"])
        ),
        ip("198.51.100.7")
    );
    // Several header lines are one list, in order.
    assert_eq!(
        client_ip(
            &trusted,
            ip("127.0.0.1"),
            &xff(&["6.6.6.6", "198.51.100.7", "10.0.0.2"])
        ),
        ip("198.51.100.7")
    );
    // Trusted peer without the header: the peer.
    assert_eq!(
        client_ip(&trusted, ip("127.0.0.1"), &HeaderMap::new()),
        ip("127.0.0.1")
    );
    // Every hop trusted: the left-most.
    assert_eq!(
        client_ip(&trusted, ip("127.0.0.1"), &xff(&["10.0.0.9, 10.0.0.2"])),
        ip("10.0.0.9")
    );
    // Garbage from the client end never becomes the address; hops with ports and
    // IPv6 in brackets are read.
    assert_eq!(
        client_ip(&trusted, ip("127.0.0.1"), &xff(&["junk, 10.0.0.2"])),
        ip("10.0.0.2")
    );
    assert_eq!(
        client_ip(
            &trusted,
            ip("127.0.0.1"),
            &xff(&["[2001:db8::7]:4711, 198.51.100.7:80"])
        ),
        ip("198.51.100.7")
    );
    // A dual-stack socket's IPv4-mapped peer is the IPv4 address.
    assert_eq!(
        client_ip(&trusted, ip("::ffff:127.0.0.1"), &xff(&["198.51.100.7"])),
        ip("198.51.100.7")
    );
}

#[test]
fn networks_are_ipv4_addresses_and_ipv6_slash_64s() {
    assert_eq!(network_key(ip("192.0.2.1")), "ip:192.0.2.1");
    assert_eq!(network_key(ip("::ffff:192.0.2.1")), "ip:192.0.2.1");
    assert_eq!(
        network_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
        "ip:2001:db8:1:2::/64"
    );
    assert_eq!(
        network_key(ip("2001:db8:1:2::1")),
        network_key(ip("2001:db8:1:2::2"))
    );
}

fn small() -> RateLimitConfig {
    RateLimitConfig {
        api_per_minute: 3,
        anonymous_per_minute: 2,
        login_attempts: 3,
        ..RateLimitConfig::default()
    }
}

#[test]
fn api_limits_per_principal_and_per_network() {
    let l = Limits::new(small());
    let key_a = ApiKeyKind::Principal("key:a".into());
    let key_b = ApiKeyKind::Principal("key:b".into());
    for _ in 0..3 {
        l.check_api(&key_a).unwrap();
    }
    match l.check_api(&key_a) {
        Err(ApiError::TooManyRequests { retry_after_secs }) => {
            assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}")
        }
        other => panic!("{other:?}"),
    }
    l.check_api(&key_b).unwrap();
    let anon = ApiKeyKind::Anonymous(ip("192.0.2.1"));
    l.check_api(&anon).unwrap();
    l.check_api(&anon).unwrap();
    assert!(l.check_api(&anon).is_err());
    // Same /64, same bucket; another network, its own.
    assert!(l.check_api(&ApiKeyKind::Anonymous(ip("192.0.2.2"))).is_ok());

    let off = Limits::new(RateLimitConfig {
        enabled: false,
        ..small()
    });
    for _ in 0..100 {
        off.check_api(&key_a).unwrap();
    }
}

#[test]
fn api_buckets_are_keys_then_users_then_networks() {
    let user = crate::store::User {
        id: "u1".into(),
        username: "alice".into(),
        password_hash: String::new(),
        is_admin: false,
        created_at: 0,
        email: None,
        disabled: false,
    };
    let mut p = auth::Principal {
        user,
        via: Credential::ApiKey,
        key_id: Some("k1".into()),
        key_permissions: None,
        must_enrol_two_factor: false,
    };
    let addr = ip("192.0.2.1");
    assert_eq!(
        api_key_for(Some(&p), addr),
        ApiKeyKind::Principal("key:k1".into())
    );
    p.via = Credential::Session;
    p.key_id = None;
    assert_eq!(
        api_key_for(Some(&p), addr),
        ApiKeyKind::Principal("user:u1".into())
    );
    assert_eq!(api_key_for(None, addr), ApiKeyKind::Anonymous(addr));
}

async fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("g.db").display());
    let store = Store::open(&url).await.unwrap();
    (dir, store)
}

#[tokio::test]
async fn lockout_refuses_everyone_on_the_network_and_is_audited_once() {
    let (_dir, store) = temp_store().await;
    let limits = Arc::new(Limits::new(small()));
    let attacker = ip("203.0.113.5");
    let elsewhere = ip("198.51.100.1");

    // Two failures, then a success: the account starts over; the network does not.
    for _ in 0..2 {
        let a = limits.check_login(elsewhere, "Alice").unwrap();
        assert!(a.failed(&store).await.unwrap().is_empty());
    }
    limits.check_login(elsewhere, "alice").unwrap().succeeded();
    let a = limits.check_login(ip("198.51.100.2"), "alice").unwrap();
    assert!(a.failed(&store).await.unwrap().is_empty());
    let a = limits.check_login(ip("198.51.100.3"), "alice").unwrap();
    assert!(a.failed(&store).await.unwrap().is_empty());

    // Three failures from one network on three names lock the network, not the names.
    let mut lockouts = Vec::new();
    for name in ["bob", "carol", "dave"] {
        let a = limits.check_login(attacker, name).unwrap();
        lockouts.extend(a.failed(&store).await.unwrap());
    }
    assert_eq!(
        lockouts,
        [Lockout {
            scope: "ip",
            duration: Duration::from_secs(60)
        }]
    );
    match limits.check_login(attacker, "erin") {
        Err(ApiError::TooManyRequests { retry_after_secs }) => {
            assert!((59..=60).contains(&retry_after_secs), "{retry_after_secs}")
        }
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("a locked network may try again"),
    }
    // Refused attempts write nothing and extend nothing.
    assert!(limits.check_login(attacker, "erin").is_err());
    assert!(limits.check_login(ip("198.51.100.9"), "bob").is_ok());

    // The account: its third failure (from yet another network) locks it.
    let a = limits.check_login(ip("198.51.100.4"), "ALICE").unwrap();
    let l = a.failed(&store).await.unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].scope, "account");
    assert!(limits.check_login(ip("198.51.100.5"), "alice").is_err());

    let audit = store.list_audit(50).await.unwrap();
    let lockouts: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "auth.lockout")
        .collect();
    assert_eq!(lockouts.len(), 2, "{audit:?}");
    let account = &lockouts[0];
    assert_eq!(account.detail["scope"], "account");
    assert_eq!(account.detail["username"], "ALICE");
    assert_eq!(account.detail["lockout_secs"], 60);
    assert_eq!(account.ip.as_deref(), Some("198.51.100.4"));
    let network = &lockouts[1];
    assert_eq!(network.detail["scope"], "ip");
    assert_eq!(network.ip.as_deref(), Some("203.0.113.5"));
}

#[tokio::test]
async fn dropped_attempts_release_their_reservation_and_off_means_off() {
    let (_dir, store) = temp_store().await;
    let limits = Arc::new(Limits::new(small()));
    let addr = ip("192.0.2.1");
    for _ in 0..10 {
        // E.g. a right password with a second factor still to come.
        drop(limits.check_login(addr, "alice").unwrap());
    }
    let held: Vec<_> = (0..3)
        .map(|_| limits.check_login(addr, "alice").unwrap())
        .collect();
    assert!(limits.check_login(addr, "alice").is_err(), "3 in flight");
    drop(held);
    limits.check_login(addr, "alice").unwrap();

    let off = Arc::new(Limits::new(RateLimitConfig {
        enabled: false,
        ..small()
    }));
    for _ in 0..20 {
        let a = off.check_login(addr, "alice").unwrap();
        assert!(a.failed(&store).await.unwrap().is_empty());
    }
    assert!(store.list_audit(50).await.unwrap().is_empty());
}
