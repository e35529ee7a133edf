//! The errors a run can end with, and the exit codes of every way a run ends.

use std::path::PathBuf;

use crate::aws::AwsError;
use crate::source::SourceError;
use crate::spec::SpecErrors;

/// Every way a run ends, and its exit code: the one table (`--help` and the README say it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every expectation that ran passed.
    Pass = 0,
    /// Usage or spec error, or nothing was judged.
    Usage = 2,
    /// The evidence could not be gathered (or is incomplete) for an expectation that did not fail.
    Evidence = 3,
    /// An expectation failed.
    Failed = 101,
    /// A second Ctrl-C: quit at once.
    Interrupted = 130,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Spec(#[from] SpecErrors),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Evidence(String),
    #[error("{}", .0.with_help())]
    Aws(#[from] AwsError),
    #[error("cannot write {}: {source}", path.display())]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<SourceError> for Error {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::Usage(m) => Error::Usage(m),
            SourceError::Failed(m) => Error::Evidence(m),
            SourceError::Aws(e) => Error::Aws(e),
        }
    }
}

impl Error {
    /// 2 for what the user can fix in the command or the specs, 3 when evidence is out of reach.
    pub fn exit_code(&self) -> u8 {
        self.exit() as u8
    }

    pub fn exit(&self) -> Exit {
        match self {
            Error::Spec(_) | Error::Usage(_) | Error::Output { .. } => Exit::Usage,
            Error::Aws(e) if e.is_usage() => Exit::Usage,
            Error::Evidence(_) | Error::Aws(_) => Exit::Evidence,
        }
    }

    /// The message for a terminal: `error:` in bold red, `help:` in cyan. anstream drops the
    /// colours where stderr is not a terminal, and under NO_COLOR.
    pub fn render_styled(&self) -> String {
        let (err, help) = (
            anstyle::AnsiColor::Red.on_default().bold(),
            anstyle::AnsiColor::Cyan.on_default().bold(),
        );
        self.render()
            .lines()
            .map(|l| {
                if let Some(rest) = l.strip_prefix("error:") {
                    format!("{err}error:{err:#}{rest}")
                } else if let Some(rest) = l.trim_start().strip_prefix("help:") {
                    let indent = &l[..l.len() - l.trim_start().len()];
                    format!("{indent}{help}help:{help:#}{rest}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The message for stderr, each line of a spec problem prefixed like a compiler's.
    pub fn render(&self) -> String {
        match self {
            Error::Spec(SpecErrors(problems)) => {
                let mut out = String::new();
                for p in problems {
                    out.push_str(&format!("error: {p}\n"));
                }
                let last = self.to_string();
                out.push_str(last.lines().last().unwrap_or_default());
                out
            }
            other => format!("error: {other}"),
        }
    }
}
