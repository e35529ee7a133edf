//! A Logs Insights interpreter for tests: it runs the query text flowgate sends over log events,
//! so that what the tests compute is what AWS would compute from that text, not what the plan
//! behind it meant. A wrong filter, field name, `by` clause or a missing SKIPDATA clause changes
//! the rows it returns.
//!
//! It knows exactly the subset of AWS's query syntax reference
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html>) flowgate
//! emits: `parse @message "<glob>" as ...` with `*` wildcards, `filter` with `=`, `!=`, `in
//! [..]`, `isIpInSubnet`, `and`, `or`, `not` and parentheses, `stats` with `count(*)`, `min`,
//! `max`, `count_distinct` and `earliest`, `as` and `by`, `fields` and `limit`. Anything else is a
//! parse error, so a new construct fails the tests until the interpreter learns it.
//!
//! Where AWS documents a behaviour as approximate or leaves it open, the interpreter takes the
//! case least favourable to a pass, and so must flowgate's reading of the rows:
//! - `count_distinct` is approximate for high cardinality per AWS; here it is exact, and
//!   flowgate only uses it as a count of connections in settled pairs, never to settle one.
//! - `stats ... by` over events where a `by` field is missing: the reference does not say. Here
//!   they are kept, as a group of their own with that field absent from the row, so that a record
//!   flowgate did not expect (SKIPDATA, a line `parse` did not match) shows up rather than vanishes.
//! - `and` and `or` mixed without parentheses: the reference gives no precedence, so it is a
//!   parse error here; flowgate's filters must parenthesize.
//! - a comparison on a missing field is false, and so is `!=`; `not` negates what is left.
//! - rows come without an order unless `sort` says (flowgate never relies on one): records in
//!   descending `@timestamp`, as the console shows them, groups in no meaningful order.
//! - a result holds at most the `limit` StartQuery asks for (10,000 at most), whatever the query:
//!   the rest is cut silently, as AWS does.
//! - values have a type: the fields discovered in a default-format record are numbers where the
//!   field is numeric (ports, protocol, times, ...), and what `parse` extracts is text, as AWS's
//!   `parse` reference says (extracted fields). `min` and `max` of text compare text: over ports
//!   9999 and 10000 they give "10000" and "9999". Comparisons (`=`, `in`) are of the text as
//!   written, which for addresses and actions is what flowgate means.
//! - whether discovery gives the `-` of SKIPDATA and NODATA records as a value or leaves the field
//!   out is not documented: `Group::dashes_absent` picks, and the equivalence test runs both.
//!
//! Log events are what CloudWatch Logs holds for a flow log: the record as `@message`, its
//! interface's stream as `@logStream`, and `@timestamp` the record's start (Logs Insights picks
//! records by it). For a log group whose flow log uses the default format, the fields Logs
//! Insights discovers (CWL_AnalyzeLogData-discoverable-fields.html) are set from the message;
//! custom formats have none, and go through `parse`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_cloudwatchlogs::operation::start_query::StartQueryOutput;
use aws_sdk_cloudwatchlogs::operation::stop_query::StopQueryOutput;
use aws_sdk_cloudwatchlogs::types::{QueryStatistics, QueryStatus, ResultField};
use aws_smithy_mocks::{Rule, mock};
use ipnet::IpNet;

use super::query::{MAX_ROWS, Query};
use super::run::{Answer, Asker, Cost, Row};

/// One log event as CloudWatch Logs stores a flow-log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub timestamp: u64,
    pub stream: String,
    pub message: String,
}

/// A log group: its events, and whether its flow log uses the default format (Logs Insights
/// then discovers the record's fields).
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub events: Vec<Event>,
    pub default_format: bool,
    /// Whether discovery leaves out the `-` that SKIPDATA and NODATA records write for the
    /// fields they do not have. AWS does not say whether such a field is discovered as `-` or not
    /// at all (then a `by` on it groups by a missing field); the tests run both.
    pub dashes_absent: bool,
}

/// The fields Logs Insights discovers in a default-format flow-log record, by column.
const DISCOVERED: [&str; 14] = [
    "version",
    "accountId",
    "interfaceId",
    "srcAddr",
    "dstAddr",
    "srcPort",
    "dstPort",
    "protocol",
    "packets",
    "bytes",
    "startTime",
    "endTime",
    "action",
    "logStatus",
];

// ---------------------------------------------------------------------------------------------
// Parsing

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(u64),
    Punct(&'static str),
}

fn tokens(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string".into()),
                    Some('"') => break,
                    // Escapes are never emitted: what they mean is not the interpreter's to guess.
                    Some('\\') => return Err("escapes in strings are not supported".into()),
                    Some(&ch) => s.push(ch),
                }
                i += 1;
            }
            i += 1;
            out.push(Tok::Str(s));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let n: String = chars[start..i].iter().collect();
            out.push(Tok::Num(n.parse().map_err(|_| format!("number `{n}`"))?));
        } else if c.is_ascii_alphabetic() || c == '@' || c == '_' {
            let start = i;
            if c == '@' {
                i += 1;
            }
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let p = match (two.as_str(), c) {
                ("!=", _) => "!=",
                (_, '(') => "(",
                (_, ')') => ")",
                (_, '[') => "[",
                (_, ']') => "]",
                (_, ',') => ",",
                (_, '=') => "=",
                (_, '*') => "*",
                (_, '|') => "|",
                _ => return Err(format!("unexpected character `{c}`")),
            };
            i += p.len();
            out.push(Tok::Punct(p));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    InSubnet(String, IpNet),
}

#[derive(Debug, Clone, PartialEq)]
enum Agg {
    Count,
    CountDistinct(String),
    Min(String),
    Max(String),
    Earliest(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Command {
    /// The literal text around each `*`, and the names the wildcards are given.
    Parse {
        source: String,
        literals: Vec<String>,
        names: Vec<String>,
    },
    Filter(Expr),
    Stats {
        aggs: Vec<(Agg, String)>,
        by: Vec<String>,
    },
    Fields(Vec<String>),
    Limit(usize),
}

/// A parsed query: its commands in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Program(Vec<Command>);

const KEYWORDS: [&str; 11] = [
    "and", "or", "not", "in", "as", "by", "filter", "stats", "fields", "limit", "parse",
];

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Result<Tok, String> {
        let t = self
            .toks
            .get(self.at)
            .cloned()
            .ok_or("the query ends too early")?;
        self.at += 1;
        Ok(t)
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn punct(&mut self, p: &str) -> Result<(), String> {
        match self.next()? {
            Tok::Punct(q) if q == p => Ok(()),
            other => Err(format!("expected `{p}`, found {other:?}")),
        }
    }

    fn word(&mut self, w: &str) -> Result<(), String> {
        match self.next()? {
            Tok::Word(x) if x == w => Ok(()),
            other => Err(format!("expected `{w}`, found {other:?}")),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        match self.next()? {
            Tok::Str(s) => Ok(s),
            other => Err(format!("expected a string, found {other:?}")),
        }
    }

    /// A field name: a discovered or parsed field, or one of the system fields flowgate uses.
    fn field(&mut self) -> Result<String, String> {
        match self.next()? {
            Tok::Word(w) if KEYWORDS.contains(&w.as_str()) => {
                Err(format!("expected a field, found the keyword `{w}`"))
            }
            Tok::Word(w) if w.starts_with('@') => match w.as_str() {
                "@message" | "@logStream" | "@timestamp" | "@ptr" => Ok(w),
                _ => Err(format!("unknown system field `{w}`")),
            },
            Tok::Word(w) => Ok(w),
            other => Err(format!("expected a field, found {other:?}")),
        }
    }

    fn command(&mut self) -> Result<Command, String> {
        let Tok::Word(name) = self.next()? else {
            return Err("expected a command".into());
        };
        match name.as_str() {
            "parse" => self.parse_command(),
            "filter" => Ok(Command::Filter(self.expr()?)),
            "stats" => self.stats(),
            "fields" => {
                let mut fields = vec![self.field()?];
                while self.is_punct(",") {
                    self.next()?;
                    fields.push(self.field()?);
                }
                Ok(Command::Fields(fields))
            }
            "limit" => match self.next()? {
                Tok::Num(n) if (1..=MAX_ROWS as u64).contains(&n) => Ok(Command::Limit(n as usize)),
                other => Err(format!("limit takes 1 to {MAX_ROWS}, found {other:?}")),
            },
            other => Err(format!("unsupported command `{other}`")),
        }
    }

    fn parse_command(&mut self) -> Result<Command, String> {
        let source = self.field()?;
        let pattern = match self.next()? {
            Tok::Str(s) => s,
            other => Err(format!(
                "parse takes a glob pattern in double quotes (regular expressions are not supported), found {other:?}"
            ))?,
        };
        let literals: Vec<String> = pattern.split('*').map(str::to_string).collect();
        self.word("as")?;
        let mut names = vec![self.field()?];
        while self.is_punct(",") {
            self.next()?;
            names.push(self.field()?);
        }
        if names.len() != literals.len() - 1 {
            return Err(format!(
                "parse names {} fields for {} wildcards",
                names.len(),
                literals.len() - 1
            ));
        }
        Ok(Command::Parse {
            source,
            literals,
            names,
        })
    }

    fn stats(&mut self) -> Result<Command, String> {
        let mut aggs = Vec::new();
        loop {
            let Tok::Word(f) = self.next()? else {
                return Err("expected an aggregation function".into());
            };
            self.punct("(")?;
            let agg = match f.as_str() {
                "count" => {
                    self.punct("*")?;
                    Agg::Count
                }
                "count_distinct" => Agg::CountDistinct(self.field()?),
                "min" => Agg::Min(self.field()?),
                "max" => Agg::Max(self.field()?),
                "earliest" => Agg::Earliest(self.field()?),
                other => return Err(format!("unsupported aggregation `{other}`")),
            };
            self.punct(")")?;
            // Without `as`, AWS names the column after the expression; flowgate always names it.
            self.word("as")?;
            let name = self.field()?;
            aggs.push((agg, name));
            if !self.is_punct(",") {
                break;
            }
            self.next()?;
        }
        let mut by = Vec::new();
        if self.is_word("by") {
            self.next()?;
            by.push(self.field()?);
            while self.is_punct(",") {
                self.next()?;
                by.push(self.field()?);
            }
        }
        Ok(Command::Stats { aggs, by })
    }

    /// `a or b or c`, `a and b`: one operator per level, so that precedence never decides.
    fn expr(&mut self) -> Result<Expr, String> {
        let first = self.unary()?;
        let op = match self.peek() {
            Some(Tok::Word(w)) if w == "and" || w == "or" => w.clone(),
            _ => return Ok(first),
        };
        let mut terms = vec![first];
        while let Some(Tok::Word(w)) = self.peek() {
            match w.as_str() {
                w if w == op => {
                    self.next()?;
                    terms.push(self.unary()?);
                }
                "and" | "or" => {
                    return Err(
                        "`and` and `or` mixed without parentheses (precedence left open)".into(),
                    );
                }
                _ => break,
            }
        }
        Ok(if op == "and" {
            Expr::And(terms)
        } else {
            Expr::Or(terms)
        })
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.is_word("not") {
            self.next()?;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.is_punct("(") {
            self.next()?;
            let e = self.expr()?;
            self.punct(")")?;
            return Ok(e);
        }
        if self.is_word("isIpInSubnet") {
            self.next()?;
            self.punct("(")?;
            let field = self.field()?;
            self.punct(",")?;
            let cidr = self.string()?;
            self.punct(")")?;
            let net: IpNet = cidr
                .parse()
                .map_err(|_| format!("isIpInSubnet: `{cidr}` is not a CIDR"))?;
            if net.trunc() != net {
                // AWS's reference does not say what host bits mean; flowgate never sends them.
                return Err(format!("isIpInSubnet: `{cidr}` has host bits set"));
            }
            return Ok(Expr::InSubnet(field, net));
        }
        let field = self.field()?;
        match self.next()? {
            Tok::Punct("=") => Ok(Expr::Eq(field, self.string()?)),
            Tok::Punct("!=") => Ok(Expr::Ne(field, self.string()?)),
            Tok::Word(w) if w == "in" => {
                self.punct("[")?;
                let mut set = vec![self.string()?];
                while self.is_punct(",") {
                    self.next()?;
                    set.push(self.string()?);
                }
                self.punct("]")?;
                Ok(Expr::In(field, set))
            }
            other => Err(format!(
                "expected a comparison after `{field}`, found {other:?}"
            )),
        }
    }
}

/// Parses query text, or says which construct the interpreter does not know.
pub fn parse(text: &str) -> Result<Program, String> {
    let mut p = Parser {
        toks: tokens(text)?,
        at: 0,
    };
    let mut commands = vec![p.command()?];
    while p.peek().is_some() {
        p.punct("|")?;
        commands.push(p.command()?);
    }
    let stats = commands
        .iter()
        .position(|c| matches!(c, Command::Stats { .. }));
    if let Some(i) = stats
        && i + 1 != commands.len()
    {
        return Err("commands after `stats` are not supported".into());
    }
    if stats.is_none() && !commands.iter().any(|c| matches!(c, Command::Fields(_))) {
        // AWS would show @timestamp and @message: flowgate always says what it reads.
        return Err("a query without `stats` must name its `fields`".into());
    }
    Ok(Program(commands))
}

// ---------------------------------------------------------------------------------------------
// Running

type Fields = BTreeMap<String, String>;

/// The fields of one event before the query's commands: the system fields, and those Logs
/// Insights discovers in a default-format record.
fn fields_of(event: &Event, ptr: usize, group: &Group) -> Fields {
    let mut f = Fields::new();
    f.insert("@message".into(), event.message.clone());
    f.insert("@logStream".into(), event.stream.clone());
    f.insert("@timestamp".into(), event.timestamp.to_string());
    f.insert("@ptr".into(), format!("ptr-{ptr}"));
    let words: Vec<&str> = event.message.split(' ').collect();
    if group.default_format && words.len() == DISCOVERED.len() {
        for (name, value) in DISCOVERED.iter().zip(words) {
            if !(group.dashes_absent && value == "-") {
                f.insert(name.to_string(), value.to_string());
            }
        }
    }
    f
}

/// Glob matching as `parse` does it: the pattern is found in the text (not anchored at its
/// start), each `*` takes the text up to the next occurrence of the literal after it, the last one
/// the rest of the line. `None` when the line does not fit: AWS then keeps the event, without the
/// extracted fields (CWL_QuerySyntax-Parse.html).
fn glob(text: &str, literals: &[String]) -> Option<Vec<String>> {
    let at = text.find(literals[0].as_str())?;
    let mut rest = &text[at + literals[0].len()..];
    let mut out = Vec::new();
    for (i, lit) in literals.iter().enumerate().skip(1) {
        if i == literals.len() - 1 && lit.is_empty() {
            out.push(rest.to_string());
            rest = "";
        } else if i == literals.len() - 1 {
            let at = rest.rfind(lit.as_str())?;
            if at + lit.len() != rest.len() {
                return None;
            }
            out.push(rest[..at].to_string());
            rest = "";
        } else {
            let at = rest.find(lit.as_str())?;
            out.push(rest[..at].to_string());
            rest = &rest[at + lit.len()..];
        }
    }
    rest.is_empty().then_some(out)
}

fn eval(e: &Expr, f: &Fields) -> bool {
    match e {
        Expr::Or(es) => es.iter().any(|e| eval(e, f)),
        Expr::And(es) => es.iter().all(|e| eval(e, f)),
        Expr::Not(e) => !eval(e, f),
        Expr::Eq(k, v) => f.get(k) == Some(v),
        Expr::Ne(k, v) => f.get(k).is_some_and(|x| x != v),
        Expr::In(k, set) => f.get(k).is_some_and(|x| set.contains(x)),
        Expr::InSubnet(k, net) => f
            .get(k)
            .and_then(|v| v.parse::<IpAddr>().ok())
            .is_some_and(|a| net.contains(&a)),
    }
}

fn number(v: &str) -> Option<f64> {
    v.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn show(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// The key that marks field `name` of a record as text (extracted by `parse`); no query can name
/// it (field names hold no NUL).
fn text_mark(name: &str) -> String {
    format!("\0text {name}")
}

fn values<'a>(group: &'a [&Fields], k: &'a str) -> impl Iterator<Item = &'a String> {
    group.iter().filter_map(move |f| f.get(k))
}

fn aggregate(agg: &Agg, group: &[&Fields]) -> Option<String> {
    let numbers = |k: &str| {
        values(group, k)
            .filter_map(|v| number(v))
            .collect::<Vec<f64>>()
    };
    match agg {
        Agg::Count => Some(group.len().to_string()),
        Agg::CountDistinct(k) => Some(
            values(group, k)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                .to_string(),
        ),
        // Text compares as text; mixed, as text too (the least favourable reading).
        Agg::Min(k) | Agg::Max(k) if group.iter().any(|f| f.contains_key(&text_mark(k))) => {
            let texts = values(group, k);
            match agg {
                Agg::Min(_) => texts.min().cloned(),
                _ => texts.max().cloned(),
            }
        }
        Agg::Min(k) => numbers(k).into_iter().reduce(f64::min).map(show),
        Agg::Max(k) => numbers(k).into_iter().reduce(f64::max).map(show),
        Agg::Earliest(k) => group
            .iter()
            .filter(|f| f.contains_key(k))
            .min_by_key(|f| f["@timestamp"].parse::<u64>().unwrap_or(u64::MAX))
            .map(|f| f[k].clone()),
    }
}

/// What a query over some events gives: its rows, and how many events it scanned and matched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub rows: Vec<Row>,
    pub scanned: usize,
    pub matched: usize,
    pub bytes: usize,
}

impl Program {
    /// Runs the query over the events of `groups` whose timestamp is in `start..=end`, keeping
    /// at most `limit` rows (StartQuery's `limit`).
    pub fn run(&self, groups: &[&Group], start: u64, end: u64, limit: usize) -> Outcome {
        let mut events: Vec<(Fields, u64)> = Vec::new();
        let mut bytes = 0;
        for g in groups {
            for e in g
                .events
                .iter()
                .filter(|e| (start..=end).contains(&e.timestamp))
            {
                bytes += e.message.len();
                events.push((fields_of(e, events.len(), g), e.timestamp));
            }
        }
        let scanned = events.len();
        let mut records: Vec<Fields> = events.into_iter().map(|(f, _)| f).collect();
        let mut matched = scanned;
        let mut rows: Option<Vec<Row>> = None;
        let mut keep: Option<Vec<String>> = None;
        let mut cap = limit.min(MAX_ROWS);
        for c in &self.0 {
            match c {
                Command::Parse {
                    source,
                    literals,
                    names,
                } => {
                    for f in &mut records {
                        let Some(values) = f.get(source).and_then(|t| glob(t, literals)) else {
                            continue;
                        };
                        for (n, v) in names.iter().zip(values) {
                            f.insert(text_mark(n), String::new());
                            f.insert(n.clone(), v);
                        }
                    }
                }
                Command::Filter(e) => {
                    records.retain(|f| eval(e, f));
                    matched = records.len();
                }
                Command::Stats { aggs, by } => {
                    let mut groups: BTreeMap<Vec<Option<&String>>, Vec<&Fields>> = BTreeMap::new();
                    for f in &records {
                        let key = by.iter().map(|k| f.get(k)).collect();
                        groups.entry(key).or_default().push(f);
                    }
                    // Backwards, so that nothing can lean on the groups coming sorted.
                    let out = groups
                        .iter()
                        .rev()
                        .map(|(key, group)| {
                            let mut row = Row::new();
                            for (k, v) in by.iter().zip(key) {
                                if let Some(v) = v {
                                    row.push((k.clone(), v.to_string()));
                                }
                            }
                            for (agg, name) in aggs {
                                if let Some(v) = aggregate(agg, group) {
                                    row.push((name.clone(), v));
                                }
                            }
                            row
                        })
                        .collect();
                    rows = Some(out);
                }
                Command::Fields(names) => keep = Some(names.clone()),
                Command::Limit(n) => cap = cap.min(*n),
            }
        }
        let mut rows = rows.unwrap_or_else(|| {
            records.sort_by_key(|f| std::cmp::Reverse(f["@timestamp"].parse::<u64>().unwrap_or(0)));
            let names = keep.unwrap_or_default();
            records
                .iter()
                .map(|f| {
                    names
                        .iter()
                        .filter_map(|n| f.get(n).map(|v| (n.clone(), v.clone())))
                        .collect()
                })
                .collect()
        });
        rows.truncate(cap);
        Outcome {
            rows,
            scanned,
            matched,
            bytes,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Serving

/// CloudWatch Logs as the tests see it: log groups by name, queried by text.
#[derive(Debug, Default)]
pub struct Logs {
    pub groups: BTreeMap<String, Group>,
    /// Every query text asked, in order.
    pub asked: Mutex<Vec<String>>,
    /// The queries the interpreter could not parse, each with why.
    pub malformed: Mutex<Vec<String>>,
}

impl Logs {
    pub fn new(groups: impl IntoIterator<Item = (String, Group)>) -> Logs {
        Logs {
            groups: groups.into_iter().collect(),
            ..Logs::default()
        }
    }

    /// Runs `text` over `names` from `start` to `end` (inclusive), at most `limit` rows.
    pub fn query(
        &self,
        names: &[String],
        start: i64,
        end: i64,
        text: &str,
        limit: usize,
    ) -> Result<Outcome, String> {
        self.asked.lock().unwrap().push(text.to_string());
        let program = parse(text).map_err(|e| {
            let why = format!("MalformedQueryException: {e}");
            self.malformed
                .lock()
                .unwrap()
                .push(format!("{why}\n{text}"));
            why
        })?;
        let groups = names
            .iter()
            .map(|n| {
                self.groups
                    .get(n)
                    .ok_or_else(|| format!("ResourceNotFoundException: log group {n}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (start, end) = (start.max(0) as u64, end.max(0) as u64);
        Ok(program.run(&groups, start, end, limit))
    }

    /// Panics with the malformed queries, if any: a construct the interpreter does not know.
    pub fn assert_well_formed(&self) {
        let bad = self.malformed.lock().unwrap();
        assert!(
            bad.is_empty(),
            "queries the interpreter cannot run:\n{bad:#?}"
        );
    }
}

fn cost(o: &Outcome) -> Cost {
    Cost {
        queries: 1,
        records_scanned: o.scanned as f64,
        records_matched: o.matched as f64,
        bytes_scanned: o.bytes as f64,
        unreported: 0,
        ..Cost::default()
    }
}

/// Answering straight from the text, without the runner: for tests with far fewer rows than a
/// page. A full page would be split by the runner, so here it is an error rather than an answer.
impl Asker for Logs {
    async fn ask(
        &self,
        groups: Vec<String>,
        start: i64,
        end: i64,
        query: Query,
    ) -> Result<Answer, String> {
        let o = self.query(&groups, start, end, &query.text, MAX_ROWS)?;
        if o.rows.len() >= MAX_ROWS {
            return Err("a full page: use `service` so that the runner splits it".into());
        }
        Ok(Answer {
            cost: cost(&o),
            rows: o.rows,
        })
    }
}

/// Mocked Logs Insights API calls answered by running each query's text over `logs`:
/// StartQuery keeps the query, GetQueryResults runs it, StopQuery succeeds. A query the
/// interpreter cannot parse ends Failed (and is kept in `logs.malformed`).
pub fn service(logs: Arc<Logs>) -> Vec<Rule> {
    type Started = (Vec<String>, i64, i64, String, usize);
    let started: Arc<Mutex<Vec<Started>>> = Arc::default();
    let start = mock!(Client::start_query).then_compute_output({
        let started = Arc::clone(&started);
        move |r| {
            let mut s = started.lock().unwrap();
            s.push((
                r.log_group_names().to_vec(),
                r.start_time().unwrap_or_default(),
                r.end_time().unwrap_or_default(),
                r.query_string().unwrap_or_default().to_string(),
                r.limit().map_or(1000, |l| l.max(0) as usize),
            ));
            StartQueryOutput::builder()
                .query_id(format!("q{}", s.len() - 1))
                .build()
        }
    });
    let results = mock!(Client::get_query_results).then_compute_output(move |r| {
        let n: usize = r
            .query_id()
            .and_then(|id| id.strip_prefix('q'))
            .and_then(|n| n.parse().ok())
            .expect("a query id from StartQuery");
        let (groups, start, end, text, limit) = started.lock().unwrap()[n].clone();
        match logs.query(&groups, start, end, &text, limit) {
            Err(_) => GetQueryResultsOutput::builder()
                .status(QueryStatus::Failed)
                .build(),
            Ok(o) => {
                let rows = o
                    .rows
                    .iter()
                    .map(|row| {
                        row.iter()
                            .map(|(f, v)| ResultField::builder().field(f).value(v).build())
                            .collect()
                    })
                    .collect();
                GetQueryResultsOutput::builder()
                    .status(QueryStatus::Complete)
                    .set_results(Some(rows))
                    .statistics(
                        QueryStatistics::builder()
                            .records_scanned(o.scanned as f64)
                            .records_matched(o.matched as f64)
                            .bytes_scanned(o.bytes as f64)
                            .build(),
                    )
                    .build()
            }
        }
    });
    let stop =
        mock!(Client::stop_query).then_output(|| StopQueryOutput::builder().success(true).build());
    vec![start, results, stop]
}

#[cfg(test)]
mod tests;
