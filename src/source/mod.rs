//! Evidence sources. Each turns a plan into evidence for all of its checks in one go; verdicts
//! never see where the evidence came from.

pub mod files;
pub mod format;
pub mod insights;
pub mod ledger;
pub mod lines;
pub mod record;
pub mod scan;

#[cfg(test)]
mod properties;

use std::future::Future;
use std::sync::Arc;

use crate::evidence::Evidence;
use crate::plan::Plan;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The user named evidence that is not there or cannot be used as given (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The evidence could not be gathered (exit code 3).
    #[error("{0}")]
    Failed(String),
}

pub trait Source {
    /// Gathers the evidence for every check of the plan, in plan order.
    fn collect(
        &self,
        plan: Arc<Plan>,
    ) -> impl Future<Output = Result<Evidence, SourceError>> + Send;

    /// One line for the run summary: what was read.
    fn describe(&self) -> String;
}
