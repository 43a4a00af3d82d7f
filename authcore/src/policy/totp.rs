//! Which TOTP step a code may use, and when a login's second-factor challenge is still alive,
//! as pure rules.
//!
//! A code is tried against the current 30 s step and one step either side (clock drift); the
//! step it matches is accepted only if it is later than the last step this user spent, so each
//! code works once (the store spends the step with a conditional write: of two racing
//! verifications of one code, one wins). A challenge (the `mfa_token` a login answers with)
//! lives 5 minutes and dies at its fifth wrong code.

/// The TOTP step length, in seconds (RFC 6238's default, what every authenticator app uses).
pub const STEP: u64 = 30;

/// How long an `mfa_token` lives, in seconds.
pub const CHALLENGE_TTL: i64 = 300;
/// Wrong codes that end a challenge.
pub const CHALLENGE_MAX_FAILURES: i64 = 5;

/// The step `now` falls in.
pub fn step_of(now: i64) -> i64 {
    now.div_euclid(STEP as i64)
}

/// The steps a code presented at `now` is tried against, oldest first.
pub fn window(now: i64) -> [i64; 3] {
    let step = step_of(now);
    [step - 1, step, step + 1]
}

/// What [`decide`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The code is good; spend `step`.
    Accept { step: i64 },
    /// The code matched a step already spent (or an older one): refused.
    Replayed,
    /// The code matched no step of the window.
    Wrong,
}

/// `matched`: the steps of [`window`] the code matched (normally at most one);
/// `last_spent`: the last step this user spent.
pub fn decide(matched: &[i64], last_spent: Option<i64>) -> Verdict {
    match matched.iter().max() {
        None => Verdict::Wrong,
        Some(&step) if last_spent.is_some_and(|last| step <= last) => Verdict::Replayed,
        Some(&step) => Verdict::Accept { step },
    }
}

/// Whether a challenge still takes codes.
pub fn challenge_alive(expires_at: i64, failures: i64, now: i64) -> bool {
    now < expires_at && failures < CHALLENGE_MAX_FAILURES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_one_step_either_side() {
        assert_eq!(window(59), [0, 1, 2]);
        assert_eq!(window(60), [1, 2, 3]);
        assert_eq!(step_of(0), 0);
    }

    #[test]
    fn each_step_is_spent_once_and_never_an_older_one() {
        assert_eq!(decide(&[10], None), Verdict::Accept { step: 10 });
        assert_eq!(decide(&[10], Some(9)), Verdict::Accept { step: 10 });
        assert_eq!(decide(&[10], Some(10)), Verdict::Replayed);
        assert_eq!(decide(&[9], Some(10)), Verdict::Replayed);
        assert_eq!(decide(&[], Some(3)), Verdict::Wrong);
        assert_eq!(decide(&[9, 11], Some(10)), Verdict::Accept { step: 11 });
    }

    #[test]
    fn a_challenge_dies_at_five_failures_or_five_minutes() {
        assert!(challenge_alive(100, 0, 99));
        assert!(challenge_alive(100, 4, 99));
        assert!(!challenge_alive(100, 5, 99));
        assert!(!challenge_alive(100, 0, 100));
    }
}
