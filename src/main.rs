use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = flowgate::cli::Cli::parse();
    match flowgate::run(cli) {
        Ok(code) => code,
        Err(e) => {
            anstream::eprintln!("{}", e.render_styled());
            ExitCode::from(e.exit_code())
        }
    }
}
