//! A process's memory, read from `/proc/<pid>/status`.

use crate::Result;

/// One `status` field, in KiB.
fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/<pid>/status").into())
}

/// `VmHWM` (peak resident set) of a running process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmHWM:")
}

/// `VmRSS` (current resident set) of a process, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_rss_and_peak() {
        let now = rss_kib(std::process::id()).unwrap();
        assert!(now > 0);
        assert!(peak_rss_kib(std::process::id()).unwrap() >= now);
    }
}
