//! What a person at a terminal sees while flowgate waits: a spinner line on stderr for running
//! queries and for late flow logs. Nothing of it reaches a pipe or a CI log (indicatif draws only
//! on a terminal); waits for late logs still leave one plain line per try there, so that a log
//! says why the job sleeps.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

fn bar(len: Option<u64>) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let template = if len.is_some() {
        "{spinner} {msg} {pos}/{len} ({elapsed})"
    } else {
        "{spinner} {msg}"
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A counter of Logs Insights queries that have answered; cleared when dropped.
pub struct Queries(ProgressBar);

impl Queries {
    pub fn start(total: usize) -> Queries {
        let b = bar(Some(total as u64));
        b.set_message("Logs Insights queries");
        Queries(b)
    }

    pub fn done(&self) {
        self.0.inc(1);
    }
}

impl Drop for Queries {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Waits `pause` for late flow logs, saying why: a countdown on a terminal, one line otherwise.
pub async fn wait(why: &str, pause: Duration, left: Duration) {
    if !std::io::stderr().is_terminal() {
        eprintln!(
            "flowgate: waiting for flow logs: {why}; next try in {}s, {}s left",
            pause.as_secs(),
            left.as_secs()
        );
        tokio::time::sleep(pause).await;
        return;
    }
    let b = bar(None);
    let mut remaining = pause.as_secs();
    while remaining > 0 {
        b.set_message(format!(
            "waiting for flow logs: {why}; next try in {remaining}s"
        ));
        let step = remaining.min(1);
        tokio::time::sleep(Duration::from_secs(step)).await;
        remaining -= step;
    }
    b.finish_and_clear();
}
