//! What the two local services (DynamoDB Local, the SES v2 emulator) share: the workspace root
//! their packages are installed under, a free loopback port, and the guard that ends the
//! service with this process.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;

/// The workspace root (`.tools/` lives there).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A port nothing listens on right now.
pub(crate) fn free_port() -> std::io::Result<u16> {
    TcpListener::bind("127.0.0.1:0")?
        .local_addr()
        .map(|a| a.port())
}

/// A service running under a small `sh` guard whose standard input is a pipe from this
/// process: when this process exits, however it exits, the pipe closes and the guard stops the
/// service. Dropping it does the same at once. Nothing is left running.
#[derive(Debug)]
pub(crate) struct Guarded {
    pub(crate) endpoint: String,
    pub(crate) guard: Child,
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // Closing stdin ends the guard's read, and the guard stops the service.
        drop(self.guard.stdin.take());
        let _ = self.guard.wait();
    }
}
