//! The errors a run can end with, and their exit codes.

use std::path::PathBuf;

use crate::source::SourceError;
use crate::spec::SpecErrors;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Spec(#[from] SpecErrors),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Evidence(String),
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
        }
    }
}

impl Error {
    /// 2 for what the user can fix in the command or the specs, 3 when evidence is out of reach.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Spec(_) | Error::Usage(_) | Error::Output { .. } => 2,
            Error::Evidence(_) => 3,
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
