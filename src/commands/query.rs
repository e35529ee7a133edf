//! `flowgate query`: what `check` would read or run, without running it: the Logs Insights
//! queries to paste into the console, or the files that would be read.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::QueryArgs;
use crate::error::Error;
use crate::plan;
use crate::source::Question;

pub async fn run(args: QueryArgs) -> Result<ExitCode, Error> {
    let window = super::window(&args.evidence)?;
    let specs = super::load(&args.specs)?;
    let request = super::request(&args.evidence, None);
    let aws = super::connect(&args.evidence, &request, &specs, super::Purpose::Print).await?;
    let hosts = super::resolve_all(&specs, aws.as_ref()).await?;
    let plan = Arc::new(crate::plan::assemble(&specs, &hosts, window));
    let strict = crate::plan::strict(&specs, &hosts, &plan);
    let at = crate::source::locate(&request, &plan, aws.as_ref()).await?;
    let mut text = at
        .preview(&request, &Question::Checks(Arc::clone(&plan)), aws.as_ref())
        .await?;
    // Files and S3 objects would be listed again as they are: only queries differ.
    let queries = request.kind()? != crate::source::Kind::Files;
    if let (true, Some(question)) = (queries, super::strict_question(&plan, &strict)) {
        let names: Vec<String> = strict.iter().map(plan::Strict::trial_name).collect();
        text.push_str(&format!(
            "\n# and for the strict hosts ({}): the accepted flows touching them\n",
            names.join(", ")
        ));
        text.push_str(&at.preview(&request, &question, aws.as_ref()).await?);
    }
    super::emit(text.as_bytes())
}
