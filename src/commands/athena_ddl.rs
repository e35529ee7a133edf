//! `flowgate athena-ddl`: the table `--athena-table` reads, for the layout the flow logs are
//! delivered in.

use std::process::ExitCode;

use crate::cli::AthenaDdlArgs;
use crate::error::Error;
use crate::source::athena::ddl::{Layout, create_table};
use crate::source::format::Format;

pub fn run(args: AthenaDdlArgs) -> Result<ExitCode, Error> {
    let format = match &args.log_format {
        None => None,
        Some(f) if args.parquet => {
            return Err(Error::Usage(format!(
                "--log-format `{f}`: Parquet files name their columns, in any order: drop --log-format"
            )));
        }
        Some(f) => Some(Format::parse(f).map_err(|e| Error::Usage(format!("--log-format: {e}")))?),
    };
    let layout = Layout {
        location: args.location,
        table: args.table,
        parquet: args.parquet,
        hive: args.hive,
        hourly: args.hourly,
        accounts: args.accounts,
        regions: args.regions,
        format,
    };
    let ddl = create_table(&layout).map_err(Error::Usage)?;
    super::emit(ddl.as_bytes())
}
