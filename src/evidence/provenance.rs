//! Where evidence came from, one value per kind of source: what was read, asked and what it
//! cost. The run summary and the reports say it in words; verdicts never look at it.

/// What one source of a run read.
#[derive(Debug, Clone, PartialEq)]
pub enum Provenance {
    /// Flow-log files on disk.
    Files { files: u64 },
    /// Flow-log objects in S3.
    S3(S3Read),
    /// Logs Insights queries over log groups.
    Insights(InsightsRead),
    /// Athena queries over a table.
    Athena(AthenaRead),
}

/// What an S3 source listed, fetched and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Read {
    /// The locations given or discovered (`s3://bucket/prefix/`).
    pub locations: Vec<String>,
    /// The prefixes listed for the window (one per account, region, day or hour).
    pub prefixes: u64,
    /// Objects listed under those prefixes, and their bytes.
    pub listed: u64,
    pub listed_bytes: u64,
    /// Objects fetched (their names could hold records of the window, or say nothing of time).
    pub fetched: u64,
    pub fetched_bytes: u64,
    /// Objects listed but left as other flow logs' (a discovered location in a shared bucket).
    pub others: u64,
    pub others_bytes: u64,
    /// Time ranges the objects were chosen for, in Unix seconds.
    pub ranges: Vec<(u64, u64)>,
}

impl S3Read {
    /// Objects (and bytes) listed but skipped as outside the window.
    pub fn skipped(&self) -> (u64, u64) {
        (
            self.listed.saturating_sub(self.fetched + self.others),
            self.listed_bytes
                .saturating_sub(self.fetched_bytes + self.others_bytes),
        )
    }

    /// `, N of other flow logs left`, when a discovered location left some.
    pub fn others_words(&self) -> String {
        if self.others == 0 {
            return String::new();
        }
        format!(", {} of other flow logs left", self.others)
    }
}

/// What the Logs Insights queries of a run asked and cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InsightsRead {
    pub groups: Vec<String>,
    /// The time ranges judged, in Unix seconds.
    pub ranges: Vec<(u64, u64)>,
    pub cost: QueryCost,
}

/// What the Athena queries of a run asked and cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AthenaRead {
    /// `database.table`.
    pub table: String,
    pub workgroup: String,
    /// The time ranges judged, in Unix seconds.
    pub ranges: Vec<(u64, u64)>,
    pub cost: QueryCost,
}

/// Athena's price: $5 per TB scanned (10^12 bytes), each query billed for at least 10 MB.
pub const ATHENA_DOLLARS_PER_TB: f64 = 5.0;

impl AthenaRead {
    pub fn dollars(&self) -> f64 {
        self.cost.billed_bytes / 1e12 * ATHENA_DOLLARS_PER_TB
    }
}

/// What queries cost, from the engine's own statistics (Logs Insights bills per GB scanned,
/// Athena per TB).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueryCost {
    pub queries: u64,
    pub records_scanned: f64,
    pub records_matched: f64,
    pub bytes_scanned: f64,
    /// What the engine bills for (Athena: at least 10 MB a query, in whole megabytes).
    pub billed_bytes: f64,
    /// Time the engine spent (Athena's EngineExecutionTimeInMillis).
    pub engine_millis: u64,
    /// Queries whose answer had no statistics (an emulator).
    pub unreported: u64,
}

impl QueryCost {
    pub fn add(&mut self, o: &QueryCost) {
        self.queries += o.queries;
        self.unreported += o.unreported;
        self.records_scanned += o.records_scanned;
        self.records_matched += o.records_matched;
        self.bytes_scanned += o.bytes_scanned;
        self.billed_bytes += o.billed_bytes;
        self.engine_millis += o.engine_millis;
    }
}
