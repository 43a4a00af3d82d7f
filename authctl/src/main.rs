//! `authctl`: see the library's documentation, or `authctl --help`.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use authctl::django::{Progress, Quiet};
use authctl::{Cli, Failure, Settings, run_with};
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
        // A bar only on a terminal: a redirected stderr (a CI log) gets the summary alone.
        let progress: Box<dyn Progress> = if std::io::stderr().is_terminal() {
            Box::new(Bar(indicatif::ProgressBar::hidden()))
        } else {
            Box::new(Quiet)
        };
        run_with(
            cli.command,
            &settings,
            read_password,
            &mut std::io::stdout(),
            progress.as_ref(),
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

/// The progress of an import, as a bar on standard error.
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn start(&self, users: u64) {
        self.0.set_length(users);
        self.0
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} users ({per_sec}, {eta} left)",
        ) {
            self.0.set_style(style);
        }
    }

    fn advance(&self, users: u64) {
        self.0.inc(users);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
