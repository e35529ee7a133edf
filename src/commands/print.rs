//! `flowgate schema`, `completions` and `man`: text generated from the spec format and the
//! command line's own definition.

use std::process::ExitCode;

use crate::cli::Cli;
use crate::error::Error;

pub fn schema() -> Result<ExitCode, Error> {
    super::emit(crate::spec::schema::json().as_bytes())
}

pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode, Error> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "flowgate", &mut out);
    super::emit(&out)
}

pub fn man(command: Option<&str>) -> Result<ExitCode, Error> {
    let top = <Cli as clap::CommandFactory>::command();
    let page = match command {
        None => top,
        Some(name) => {
            let names: Vec<String> = top
                .get_subcommands()
                .map(|c| c.get_name().to_string())
                .filter(|n| n != "help")
                .collect();
            let sub = top.find_subcommand(name).cloned().ok_or_else(|| {
                Error::Usage(format!(
                    "no command `{name}`\n  help: one of {}",
                    names.join(", ")
                ))
            })?;
            // clap names pages by a `'static` str: leaked once, for this one page.
            let page_name: &'static str = format!("flowgate-{name}").leak();
            // The version names the page; the command itself takes no -V, so none is offered.
            sub.name(page_name)
                .version(env!("CARGO_PKG_VERSION"))
                .disable_version_flag(true)
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .map_err(|e| Error::Usage(format!("cannot render the manual page: {e}")))?;
    super::emit(&out)
}
