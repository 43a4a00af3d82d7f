//! `authctl`: see the library's documentation, or `authctl --help`.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use authctl::{Cli, Failure, Settings, run};
use clap::Parser;
use shared::config::ProcessEnv;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let dir = std::env::current_dir().map_err(|e| Failure(format!("current dir: {e}")))?;
        let settings = Settings::discover(&ProcessEnv, &dir)?;
        run(
            cli.command,
            &settings,
            read_password,
            &mut std::io::stdout(),
        )
        .await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A prompt without echo on a terminal; otherwise the first line of standard input.
fn read_password() -> Result<String, Failure> {
    if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ").map_err(|e| Failure(format!("read password: {e}")))
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure(format!("read password from stdin: {e}")))?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}
