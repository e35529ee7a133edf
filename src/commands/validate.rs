//! `flowgate validate`: the specs checked without evidence, for pull-request pipelines.

use std::process::ExitCode;

use crate::cli::ValidateArgs;
use crate::error::Error;

pub fn run(args: ValidateArgs) -> Result<ExitCode, Error> {
    let specs = super::load(&args.specs)?;
    for s in &specs {
        let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        println!(
            "{}: ok: app {}, {}, {}",
            s.path.display(),
            s.app,
            count(s.hosts.len(), "host"),
            count(s.expectations.len(), "expectation")
        );
    }
    Ok(ExitCode::SUCCESS)
}
