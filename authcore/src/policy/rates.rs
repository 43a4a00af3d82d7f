//! How many requests one source may make to the costly public routes, and how many
//! registration mails go out, as pure rules: fixed-window counters.
//!
//! ```text
//! window of `now`      = [index × length, (index + 1) × length)
//! a hit is admitted   ⇔ the hits already counted in its window < max
//! refused             → 429, Retry-After = window end − now (at least 1)
//! ```
//!
//! A counter is one item per (scope, window index): the store adds the hit with one
//! conditional `UpdateItem` (`ADD hits 1` if `hits < max`), so a burst of parallel requests
//! gets exactly `max` through, and a new window is a new item (nothing to reset, no read
//! first). Its TTL is the window's end: DynamoDB deletes spent counters on its own.
//!
//! A fixed window lets through at most `2 × max` in any span of one window length (the end
//! of one window and the start of the next); the limits are set with that in mind.
//!
//! Sources are the caller's address as API Gateway saw it; an IPv6 address counts as its
//! /64 network, because one client usually holds a whole /64 and could otherwise step
//! through its addresses.

use std::net::IpAddr;

/// What one counter allows: `max` hits per window of `window` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: i64,
    pub window: i64,
}

/// The fixed window a moment falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// `now / length`, rounded down: part of the counter's key.
    pub index: i64,
    /// The first second after the window, and the counter's TTL.
    pub ends_at: i64,
}

/// The window of `limit` that `now` falls in.
pub fn window(limit: &Limit, now: i64) -> Window {
    let length = limit.window.max(1);
    let index = now.div_euclid(length);
    Window {
        index,
        ends_at: index.saturating_add(1).saturating_mul(length),
    }
}

/// Whether one more hit is admitted when `hits` are already counted in its window (the
/// condition the store writes with).
pub fn admits(hits: i64, limit: &Limit) -> bool {
    hits < limit.max
}

/// How long a refused caller waits: until the window ends, at least one second.
pub fn retry_after(window: &Window, now: i64) -> i64 {
    (window.ends_at - now).max(1)
}

/// The groups of routes that share one per-source counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteGroup {
    /// `POST /auth/login`, `POST /auth/mfa/verify`: a password or code check each.
    Login,
    /// `POST /auth/register`: a password hash, an account and a mail each.
    Register,
    /// `POST /auth/password/forgot`, `POST /auth/password/reset`,
    /// `POST /me/email/verification`: a mail or a password hash each.
    Recovery,
}

impl RouteGroup {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Register => "register",
            Self::Recovery => "recovery",
        }
    }
}

/// What one counter counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Requests of one source (see [`source_key`]) to one group of routes.
    Source { group: RouteGroup, source: String },
    /// Registration mails to one normalised address.
    RegistrationMailsTo(String),
    /// Registration mails to anyone: the service's hourly budget.
    RegistrationMails,
}

impl Scope {
    /// The counter's name, unique per scope (the store prefixes it and adds the window).
    pub fn name(&self) -> String {
        match self {
            Self::Source { group, source } => format!("source#{}#{source}", group.as_str()),
            Self::RegistrationMailsTo(email) => format!("mail-to#{email}"),
            Self::RegistrationMails => "mail-all".to_owned(),
        }
    }
}

/// The source a request is counted under: an IPv4 address as is, an IPv6 address as its /64
/// network (`2001:db8:1:2::/64`; an IPv4-mapped one as its IPv4 address), anything else
/// (no address, or not one) as `unknown`, one shared counter.
pub fn source_key(source_ip: Option<&str>) -> String {
    match source_ip.and_then(|ip| ip.trim().parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let network = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{network}/64")
            }
        },
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Limit = Limit { max: 3, window: 60 };

    #[test]
    fn windows_are_aligned_and_end_where_the_next_starts() {
        let now = 1_800_000_030;
        let w = window(&MINUTE, now);
        assert_eq!(w.index, 30_000_000);
        assert_eq!(w.ends_at, 1_800_000_060);
        assert_eq!(retry_after(&w, now), 30);
        // The last second of a window still belongs to it; the next one starts a new window.
        assert_eq!(window(&MINUTE, 1_800_000_059), w);
        assert_eq!(window(&MINUTE, 1_800_000_060).index, w.index + 1);
        // Retry-After is never 0, even at the very end.
        assert_eq!(retry_after(&w, w.ends_at), 1);
    }

    #[test]
    fn max_hits_are_admitted_then_none_until_the_next_window() {
        let mut hits = 0;
        let mut admitted = 0;
        for _ in 0..10 {
            if admits(hits, &MINUTE) {
                hits += 1;
                admitted += 1;
            }
        }
        assert_eq!(admitted, 3);
        assert!(!admits(hits, &MINUTE));
        // A lowered maximum refuses at once.
        assert!(!admits(3, &Limit { max: 2, window: 60 }));
    }

    #[test]
    fn sources_are_addresses_and_ipv6_counts_per_64() {
        assert_eq!(source_key(Some("192.0.2.7")), "192.0.2.7");
        assert_eq!(
            source_key(Some("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            source_key(Some("2001:db8:1:2::1")),
            source_key(Some("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            source_key(Some("2001:db8:1:2::1")),
            source_key(Some("2001:db8:1:3::1"))
        );
        assert_eq!(source_key(Some("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(source_key(None), "unknown");
        assert_eq!(source_key(Some("not an address")), "unknown");
    }

    #[test]
    fn scopes_have_distinct_names() {
        let names = [
            Scope::Source {
                group: RouteGroup::Login,
                source: "192.0.2.7".into(),
            },
            Scope::Source {
                group: RouteGroup::Register,
                source: "192.0.2.7".into(),
            },
            Scope::Source {
                group: RouteGroup::Recovery,
                source: "192.0.2.7".into(),
            },
            Scope::RegistrationMailsTo("a@example.com".into()),
            Scope::RegistrationMails,
        ]
        .map(|s| s.name());
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }
}
