//! flowgate: a connectivity gate for AWS.
//!
//! The pipeline runs in one direction, one module per stage:
//! [`spec`] (YAML → validated model) → [`resolve`] (hosts → address sets, through EC2 for AWS
//! selectors) → [`plan`] (what evidence to ask for) → [`source`] (flow-log files, CloudWatch
//! Logs Insights, Athena: one way in for every command) → [`verdict`] (pure judgement) → [`report`]
//! (libtest-mimic trials, JUnit, summaries). [`evidence`] is the model sources hand to verdicts,
//! at the bottom. Each command is a module of [`commands`], a short story over these stages.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod error;
pub mod evidence;
pub mod explain;
#[doc(hidden)]
pub mod fuzzing;
pub mod plan;
pub mod progress;
pub mod report;
pub mod resolve;
pub mod source;
pub mod spec;
pub mod verdict;

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

pub use error::Error;

use cli::{Cli, Command};
use commands::runtime;

/// Runs one command line; the caller prints the error, if any, and exits with its code.
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Validate(args) => commands::validate::run(args),
        Command::Check(args) => runtime()?.block_on(commands::check::run(args)),
        Command::Query(args) => runtime()?.block_on(commands::query::run(args)),
        Command::Triage(args) => runtime()?.block_on(commands::triage::run(args)),
        Command::Observe(args) => runtime()?.block_on(commands::observe::run(args)),
        Command::AthenaDdl(args) => commands::athena_ddl::run(args),
        Command::Schema => commands::print::schema(),
        Command::Completions { shell } => commands::print::completions(shell),
        Command::Man { command } => commands::print::man(command.as_deref()),
    }
}

/// The clock, in Unix seconds: read by the stages that place windows, never by verdicts.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
