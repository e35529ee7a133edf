//! `flowgate query`: what `check` would read or run, without running it: the Logs Insights
//! queries to paste into the console, or the files that would be read.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::QueryArgs;
use crate::error::Error;
use crate::source::Question;

pub async fn run(args: QueryArgs) -> Result<ExitCode, Error> {
    let window = super::window(&args.evidence)?;
    let specs = super::load(&args.specs)?;
    let request = super::request(&args.evidence, None);
    let aws = super::connect(&args.evidence, &request, &specs, super::Purpose::Print).await?;
    let plan = Arc::new(super::plan(&specs, aws.as_ref(), window).await?);
    let at = crate::source::locate(&request, &plan, aws.as_ref()).await?;
    super::emit(
        at.preview(&request, &Question::Checks(plan), aws.as_ref())
            .await?
            .as_bytes(),
    )
}
