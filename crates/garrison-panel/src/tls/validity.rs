//! The validity period of an X.509 certificate, read straight from its DER bytes.
//!
//! Only `tbsCertificate.validity` is needed (for the certificate-expiry alert), so this
//! walks the few fields in front of it instead of pulling in a full X.509 parser:
//!
//! ```text
//! Certificate ::= SEQUENCE { tbsCertificate SEQUENCE {
//!     version [0] EXPLICIT INTEGER OPTIONAL, serialNumber INTEGER,
//!     signature SEQUENCE, issuer SEQUENCE,
//!     validity SEQUENCE { notBefore Time, notAfter Time }, ... } ... }
//! Time ::= CHOICE { utcTime UTCTime, generalTime GeneralizedTime }
//! ```

use chrono::NaiveDate;

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Unix milliseconds.
    pub not_before: i64,
    pub not_after: i64,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("not an X.509 certificate: {0}")]
pub struct NotACertificate(&'static str);

/// One DER element: its tag, its contents, and what follows it.
fn element(der: &[u8]) -> Result<(u8, &[u8], &[u8]), NotACertificate> {
    let short = NotACertificate("truncated");
    let (&tag, rest) = der.split_first().ok_or(short.clone())?;
    let (&first, rest) = rest.split_first().ok_or(short.clone())?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        // Long form: the low bits say how many length bytes follow (DER allows no
        // indefinite length, and certificates stay far below 2^32 bytes).
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(NotACertificate("bad length"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(short);
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// The next element, which must carry `tag` (else `what` is missing): its contents
/// and what follows it.
fn take<'a>(
    der: &'a [u8],
    tag: u8,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), NotACertificate> {
    let (t, body, rest) = element(der)?;
    if t != tag {
        return Err(NotACertificate(what));
    }
    Ok((body, rest))
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// A UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) in Unix ms.
/// RFC 5280 requires both in UTC with seconds and no fractions.
fn time(tag: u8, body: &[u8]) -> Result<i64, NotACertificate> {
    let bad = NotACertificate("bad time");
    let (year, rest) = match tag {
        UTC_TIME if body.len() == 13 => {
            let yy = digits(&body[..2]).ok_or(bad.clone())?;
            // RFC 5280 4.1.2.5.1: 50..99 are 19xx, 00..49 are 20xx.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &body[2..])
        }
        GENERALIZED_TIME if body.len() == 15 => {
            (digits(&body[..4]).ok_or(bad.clone())?, &body[4..])
        }
        _ => return Err(bad),
    };
    if rest[10] != b'Z' {
        return Err(bad);
    }
    let part = |i: usize| digits(&rest[i..i + 2]).ok_or(bad.clone());
    let at = NaiveDate::from_ymd_opt(
        i32::try_from(year).map_err(|_| bad.clone())?,
        part(0)?,
        part(2)?,
    )
    .and_then(|d| d.and_hms_opt(part(4).ok()?, part(6).ok()?, part(8).ok()?))
    .ok_or(bad.clone())?;
    Ok(at.and_utc().timestamp_millis())
}

/// The validity period of a DER-encoded certificate.
pub fn validity(der: &[u8]) -> Result<Validity, NotACertificate> {
    let (cert, _) = take(der, SEQUENCE, "no certificate sequence")?;
    let (tbs, _) = take(cert, SEQUENCE, "no tbsCertificate")?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = element(rest)?.2;
    }
    let (_, rest) = take(rest, INTEGER, "no serial number")?;
    let (_, rest) = take(rest, SEQUENCE, "no signature algorithm")?;
    let (_, rest) = take(rest, SEQUENCE, "no issuer")?;
    let (validity, _) = take(rest, SEQUENCE, "no validity")?;
    let (tag, body, rest) = element(validity)?;
    let not_before = time(tag, body)?;
    let (tag, body, _) = element(rest)?;
    let not_after = time(tag, body)?;
    Ok(Validity {
        not_before,
        not_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate made with
    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 30`.
    const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBfDCCASOgAwIBAgIUZrNLqQpHzIdSbA8xhgc/zwN/90cwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MB4XDTI2MTIwMjEyMjI0M1oXDTI3MDEwMTEy
MjI0M1owFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEdHxxI0O8gZS7xse7rg76g2JKCRwhfQSN2lIUmj65HKX9EObZtozlGDl1
ra5dzrLFhHppLsUJWW8yC8argj2MraNTMFEwHQYDVR0OBBYEFI/OupazlGYB/c2m
wrjRBR9yULTsMB8GA1UdIwQYMBaAFI/OupazlGYB/c2mwrjRBR9yULTsMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgZAKx6FAE+WJ1/nlWAGj/3sjO
7uejCBwiHfHxGrsB9nsCIBuRkedF9SluFd93VRjY8MBCP4TQ6Qof7tMcuMIhanyY
-----END CERTIFICATE-----";

    fn der(pem: &str) -> Vec<u8> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    fn ms(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, s)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn reads_utc_times() {
        let v = validity(&der(CERT_PEM)).unwrap();
        assert_eq!(v.not_before, ms(2026, 12, 2, 12, 22, 43));
        assert_eq!(v.not_after, ms(2027, 1, 1, 12, 22, 43));
    }

    #[test]
    fn times_in_both_forms() {
        assert_eq!(
            time(UTC_TIME, b"491231235959Z"),
            Ok(ms(2049, 12, 31, 23, 59, 59))
        );
        assert_eq!(
            time(UTC_TIME, b"500101000000Z"),
            Ok(ms(1950, 1, 1, 0, 0, 0))
        );
        assert_eq!(
            time(GENERALIZED_TIME, b"20991231235959Z"),
            Ok(ms(2099, 12, 31, 23, 59, 59))
        );
        assert!(time(UTC_TIME, b"491331235959Z").is_err(), "month 13");
        assert!(time(UTC_TIME, b"4912312359590").is_err(), "no Z");
        assert!(time(GENERALIZED_TIME, b"491231235959Z").is_err(), "short");
    }

    #[test]
    fn refuses_what_is_not_a_certificate() {
        assert!(validity(b"").is_err());
        assert!(validity(&[0x30, 0x82, 0xff]).is_err());
        assert!(validity(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
        let mut cut = der(CERT_PEM);
        cut.truncate(60);
        assert!(validity(&cut).is_err());
    }
}
