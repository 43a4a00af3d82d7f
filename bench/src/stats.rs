//! Summaries of timing samples: median, nearest-rank p99, mean, min and max.

use std::time::Duration;

use serde_json::{Value, json};

/// A summary of one set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub samples: usize,
    pub median: Duration,
    pub p99: Duration,
    pub mean: Duration,
    pub min: Duration,
    pub max: Duration,
}

/// The `p`-th percentile by the nearest-rank method, of sorted samples.
fn nearest_rank(sorted: &[Duration], p: f64) -> Option<Duration> {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted.get(rank.clamp(1, n.max(1)) - 1).copied()
}

impl Summary {
    /// `None` when there are no samples.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        if n == 0 {
            return None;
        }
        let median = if n % 2 == 1 {
            *sorted.get(n / 2)?
        } else {
            let (a, b) = (sorted.get(n / 2 - 1)?, sorted.get(n / 2)?);
            (*a + *b) / 2
        };
        let total: Duration = sorted.iter().sum();
        Some(Self {
            samples: n,
            median,
            p99: nearest_rank(&sorted, 99.0)?,
            mean: total / u32::try_from(n).ok()?,
            min: *sorted.first()?,
            max: *sorted.last()?,
        })
    }

    pub fn to_json(self) -> Value {
        json!({
            "samples": self.samples,
            "median_us": micros(self.median),
            "p99_us": micros(self.p99),
            "mean_us": micros(self.mean),
            "min_us": micros(self.min),
            "max_us": micros(self.max),
        })
    }
}

pub fn micros(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1e6, 1)
}

pub fn millis(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1e3, 2)
}

/// Rounds to `digits` decimals (for the report; the raw figure carries no more meaning).
pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// A human-friendly duration: `83.2 µs`, `12.40 ms`, `1.23 s`.
pub fn human(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.1} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|m| Duration::from_millis(*m)).collect()
    }

    #[test]
    fn median_and_p99() {
        let s = Summary::of(&ms(&[5, 1, 3])).unwrap();
        assert_eq!(
            (s.median, s.min, s.max),
            (
                Duration::from_millis(3),
                Duration::from_millis(1),
                Duration::from_millis(5)
            )
        );
        let s = Summary::of(&ms(&[1, 2, 3, 4])).unwrap();
        assert_eq!(s.median, Duration::from_micros(2_500));
        let hundred: Vec<u64> = (1..=100).collect();
        let s = Summary::of(&ms(&hundred)).unwrap();
        assert_eq!(s.p99, Duration::from_millis(99));
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn human_units() {
        assert_eq!(human(Duration::from_nanos(83_200)), "83.2 µs");
        assert_eq!(human(Duration::from_micros(12_400)), "12.40 ms");
    }
}
