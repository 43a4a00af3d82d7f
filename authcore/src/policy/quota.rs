//! How many mails of one kind one address may be sent, as a pure rule: at most `max` in a
//! window of `window` seconds that starts with the first mail (so a burst right before an
//! hour mark gets no second allowance right after it). Counted per normalised address and
//! purpose, whether or not an account has the address, before anything else is looked up.
//!
//! Two counters may apply to one mail ([`Counter`]): the account's own (the address the
//! account has, for the mails about it) and the recipient's (the address the mail goes to,
//! whoever asked). They are the same address for a reset or a verification; an email change's
//! confirmation goes to another address, so it spends both: three accounts asking to move to
//! one address get it `max` confirmations an hour between them, not `max` each.
//!
//! ```text
//! no counter, or window over ─────────▶ count = 1, window_start = now
//! count < max within the window ──────▶ count + 1
//! count ≥ max within the window ──────▶ refused: 429, Retry-After = window end − now
//! ```
//!
//! The store writes the counter [`admit`] computes only if the stored one is still the one
//! it was computed from, so a burst of parallel requests gets exactly `max` through.

use serde::{Deserialize, Serialize};

/// Whose allowance a mail spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// The address of the account that asked (its mails of one purpose, to whomever).
    Account,
    /// The address the mail goes to, whichever account asked.
    Recipient,
}

impl Counter {
    /// The counters a mail of this kind spends: `to_own_address` when the mail goes to the
    /// asking account's own address (then one counter is both).
    pub fn spent(to_own_address: bool) -> &'static [Counter] {
        if to_own_address {
            &[Counter::Account]
        } else {
            &[Counter::Account, Counter::Recipient]
        }
    }
}

/// One address's counter for one purpose, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub count: i64,
    pub window_start: i64,
}

/// What [`admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send; persist this counter (conditional on the one it came from).
    Admitted(Quota),
    Refused {
        retry_after: i64,
    },
}

/// Whether one more mail may go out at `now`.
pub fn admit(current: Option<&Quota>, now: i64, max: i64, window: i64) -> Admission {
    match current {
        Some(q) if now < q.window_start + window => {
            if q.count >= max {
                Admission::Refused {
                    retry_after: (q.window_start + window - now).max(1),
                }
            } else {
                Admission::Admitted(Quota {
                    count: q.count + 1,
                    window_start: q.window_start,
                })
            }
        }
        _ => Admission::Admitted(Quota {
            count: 1,
            window_start: now,
        }),
    }
}

/// When DynamoDB may delete the counter.
pub fn expires_at(quota: &Quota, window: i64) -> i64 {
    quota.window_start + window
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const HOUR: i64 = 3_600;

    #[test]
    fn max_mails_then_refused_until_the_window_ends() {
        let mut current = None;
        for n in 1..=3 {
            match admit(current.as_ref(), NOW + n, 3, HOUR) {
                Admission::Admitted(q) => {
                    assert_eq!(
                        q,
                        Quota {
                            count: n,
                            window_start: NOW + 1
                        }
                    );
                    current = Some(q);
                }
                other => panic!("mail {n} refused: {other:?}"),
            }
        }
        assert_eq!(
            admit(current.as_ref(), NOW + 100, 3, HOUR),
            Admission::Refused {
                retry_after: HOUR + 1 - 100
            }
        );
        assert_eq!(
            admit(current.as_ref(), NOW + HOUR, 3, HOUR),
            Admission::Refused { retry_after: 1 }
        );
        assert_eq!(
            admit(current.as_ref(), NOW + 1 + HOUR, 3, HOUR),
            Admission::Admitted(Quota {
                count: 1,
                window_start: NOW + 1 + HOUR
            })
        );
    }

    #[test]
    fn a_mail_to_another_address_spends_the_recipients_allowance_too() {
        assert_eq!(Counter::spent(true), [Counter::Account]);
        assert_eq!(
            Counter::spent(false),
            [Counter::Account, Counter::Recipient]
        );
    }

    #[test]
    fn a_lowered_maximum_refuses_at_once() {
        let q = Quota {
            count: 5,
            window_start: NOW,
        };
        assert!(matches!(
            admit(Some(&q), NOW + 1, 3, HOUR),
            Admission::Refused { .. }
        ));
        assert_eq!(expires_at(&q, HOUR), NOW + HOUR);
    }
}
