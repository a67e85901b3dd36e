//! When a trigger is due. Pure functions of the time given, so the DST and missed-run
//! rules are tested with any clock.

use super::Trigger;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// Parses a 5-field cron expression or an `@` alias; the error says what is wrong.
pub fn parse_cron(expression: &str) -> Result<Cron, String> {
    let e = expression.trim();
    if e.is_empty() || e.len() > 200 {
        return Err("a cron expression is 1 to 200 characters".into());
    }
    if !e.starts_with('@') && e.split_whitespace().count() != 5 {
        return Err(
            "a cron expression has 5 fields: minute hour day-of-month month day-of-week".into(),
        );
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(e)
        .map_err(|err| format!("not a valid cron expression: {err}"))
}

/// An IANA time zone name (`Europe/Berlin`, `UTC`).
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("{name:?} is not a known time zone (an IANA name like Europe/Berlin)"))
}

/// The first slot strictly after `after` (unix millis). For an interval, slots are
/// `anchor + k * secs`. `None` when a cron expression never matches again.
pub fn next_after(trigger: &Trigger, after: i64, anchor: i64) -> Option<i64> {
    match trigger {
        Trigger::Interval { secs } => {
            let step = i64::try_from(*secs).ok()?.checked_mul(1000)?.max(1000);
            if after < anchor {
                return Some(anchor);
            }
            let k = (after - anchor) / step + 1;
            anchor.checked_add(k.checked_mul(step)?)
        }
        Trigger::Cron {
            expression,
            timezone,
        } => {
            let cron = parse_cron(expression).ok()?;
            let tz = parse_zone(timezone).ok()?;
            next_cron(&cron, tz, after)
        }
    }
}

fn next_cron(cron: &Cron, tz: Tz, after: i64) -> Option<i64> {
    let start = DateTime::<Utc>::from_timestamp_millis(after)?.with_timezone(&tz);
    cron.find_next_occurrence(&start, false)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The next `count` slots after `after`, for previews.
pub fn upcoming(trigger: &Trigger, after: i64, anchor: i64, count: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(count);
    let mut t = after;
    while out.len() < count {
        match next_after(trigger, t, anchor) {
            Some(n) if n > t => {
                out.push(n);
                t = n;
            }
            _ => break,
        }
    }
    out
}

/// A human-readable description of a trigger ("At 04:00 on every day", "Every 3600
/// seconds").
pub fn describe(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Interval { secs } => match secs {
            s if s % 86_400 == 0 => plural(s / 86_400, "day"),
            s if s % 3600 == 0 => plural(s / 3600, "hour"),
            s if s % 60 == 0 => plural(s / 60, "minute"),
            s => plural(*s, "second"),
        },
        Trigger::Cron {
            expression,
            timezone,
        } => match parse_cron(expression) {
            Ok(c) => format!("{} ({timezone})", c.describe().trim_end_matches('.')),
            Err(e) => e,
        },
    }
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("Every {unit}")
    } else {
        format!("Every {n} {unit}s")
    }
}

/// UTC RFC 3339 with seconds, for API output.
pub fn rfc3339(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    fn cron(e: &str, tz: &str) -> Trigger {
        Trigger::Cron {
            expression: e.into(),
            timezone: tz.into(),
        }
    }

    #[test]
    fn cron_in_a_zone() {
        let t = cron("0 4 * * *", "Europe/Berlin");
        // 4 am in Berlin in winter is 03:00 UTC.
        assert_eq!(
            next_after(&t, at("2026-12-01T12:00:00Z"), 0),
            Some(at("2026-12-02T03:00:00Z"))
        );
        // Strictly after: a slot at `after` itself is not next.
        assert_eq!(
            next_after(&t, at("2026-12-02T03:00:00Z"), 0),
            Some(at("2026-12-03T03:00:00Z"))
        );
        assert_eq!(
            next_after(&cron("@daily", "UTC"), at("2026-12-01T12:00:00Z"), 0),
            Some(at("2026-12-02T00:00:00Z"))
        );
        assert_eq!(
            next_after(&cron("*/15 * * * *", "UTC"), at("2026-12-01T12:07:00Z"), 0),
            Some(at("2026-12-01T12:15:00Z"))
        );
    }

    /// Europe/Berlin springs forward on 2026-03-29 (02:00 → 03:00 CEST) and falls back
    /// on 2026-10-25 (03:00 CEST → 02:00 CET).
    #[test]
    fn daylight_saving_in_berlin() {
        // A fixed time inside the gap runs right after it, once.
        let t = cron("30 2 * * *", "Europe/Berlin");
        assert_eq!(
            upcoming(&t, at("2026-03-28T12:00:00Z"), 0, 3),
            vec![
                at("2026-03-29T01:00:00Z"), // 03:00 CEST, the first minute after the gap
                at("2026-03-30T00:30:00Z"), // 02:30 CEST
                at("2026-03-31T00:30:00Z"),
            ]
        );
        // A fixed time in the repeated hour runs once, not twice.
        let t = cron("30 2 * * *", "Europe/Berlin");
        let runs = upcoming(&t, at("2026-10-24T12:00:00Z"), 0, 3);
        assert_eq!(runs[0], at("2026-10-25T00:30:00Z")); // 02:30 CEST, the first one
        assert_eq!(runs[1], at("2026-10-26T01:30:00Z")); // 02:30 CET the next day
        // 4 am keeps being 4 am local: 02:00 UTC in summer, 03:00 UTC in winter.
        let t = cron("0 4 * * *", "Europe/Berlin");
        assert_eq!(
            upcoming(&t, at("2026-10-24T12:00:00Z"), 0, 2),
            vec![at("2026-10-25T03:00:00Z"), at("2026-10-26T03:00:00Z")]
        );
        assert_eq!(
            next_after(&t, at("2026-03-28T12:00:00Z"), 0),
            Some(at("2026-03-29T02:00:00Z"))
        );
        // An hourly schedule has one run less on the short day.
        let hourly = cron("0 * * * *", "Europe/Berlin");
        let day = upcoming(&hourly, at("2026-03-28T23:00:00Z"), 0, 30);
        let on_the_day = day
            .iter()
            .filter(|&&t| t > at("2026-03-28T23:00:00Z") && t <= at("2026-03-29T22:00:00Z"))
            .count();
        assert_eq!(on_the_day, 23);
    }

    #[test]
    fn intervals_count_from_their_anchor() {
        let t = Trigger::Interval { secs: 60 };
        let anchor = at("2026-12-01T12:00:10Z");
        assert_eq!(next_after(&t, anchor - 5, anchor), Some(anchor));
        assert_eq!(next_after(&t, anchor, anchor), Some(anchor + 60_000));
        assert_eq!(
            next_after(&t, anchor + 150_000, anchor),
            Some(anchor + 180_000)
        );
    }

    #[test]
    fn bad_expressions_say_why() {
        assert!(parse_cron("* * * *").unwrap_err().contains("5 fields"));
        assert!(parse_cron("0 0 * * * *").unwrap_err().contains("5 fields"));
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_cron("@sometimes").is_err());
        assert!(parse_cron("").is_err());
        assert!(parse_zone("Mars/Olympus").is_err());
        assert!(parse_cron("0 4 * * MON-FRI").is_ok());
    }

    #[test]
    fn descriptions() {
        assert_eq!(describe(&Trigger::Interval { secs: 3600 }), "Every hour");
        assert_eq!(
            describe(&Trigger::Interval { secs: 90 }),
            "Every 90 seconds"
        );
        assert!(describe(&cron("0 4 * * *", "UTC")).contains("UTC"));
    }
}
