//! Flow logs in S3: which objects a window needs, found by listing only the prefixes AWS
//! documents for it (see `layout`); the objects are then read like files on disk.

pub mod layout;

use std::collections::BTreeSet;

use aws_sdk_s3::Client;

use self::layout::{Location, Naming};
use super::blob::Object;
use crate::aws::AwsError;
use crate::evidence::provenance::S3Read;

/// How late flow logs reach S3: about ten minutes after their interval, which lasts up to ten
/// minutes, and files gather five minutes each. Without `--end`, a window ends this long
/// before now.
pub const DELIVERY_MARGIN: u64 = 1500;

/// What a listing for one window found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The objects to read, in key order per location.
    pub objects: Vec<Object>,
    pub read: S3Read,
    /// The latest time an object's name gives, among all listed: what is delivered so far.
    pub newest: Option<u64>,
    /// Discovered flow logs with no object for the window (`fl-… in s3://…`): one that covers a
    /// check but delivered nothing leaves it without evidence, whatever the others delivered.
    pub silent: Vec<String>,
}

/// Lists flow-log objects in S3.
pub struct Lister {
    pub client: Client,
    pub locations: Vec<Location>,
}

/// One listing call's answer: the objects right under a prefix and the folders below it.
struct Page {
    objects: Vec<Object>,
    folders: Vec<String>,
}

impl Lister {
    async fn list(&self, bucket: &str, prefix: &str, delimiter: bool) -> Result<Page, AwsError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_delimiter(delimiter.then(|| "/".to_string()))
            .into_paginator()
            .send();
        let mut out = Page {
            objects: Vec::new(),
            folders: Vec::new(),
        };
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::of("s3:ListBucket", &e))?;
            for o in page.contents() {
                if let Some(key) = o.key() {
                    out.objects.push(Object {
                        bucket: bucket.to_string(),
                        key: key.to_string(),
                        size: o.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
            for p in page.common_prefixes() {
                if let Some(p) = p.prefix() {
                    out.folders.push(p[prefix.len().min(p.len())..].to_string());
                }
            }
        }
        Ok(out)
    }

    /// The objects that can hold records of `window` (Unix seconds, inclusive): listed under
    /// the day (and hour) folders of the window and the minutes around it, for every account
    /// and region under each location, kept when their name's time is near the window or says
    /// nothing of time. A location without AWS's folders is listed whole.
    pub async fn objects(&self, window: (u64, u64)) -> Result<Listing, AwsError> {
        let wanted = layout::wanted(window);
        let mut listing = Listing::default();
        listing.read.ranges.push(window);
        let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
        for location in &self.locations {
            listing.read.locations.push(location.url());
            let mut found = Vec::new();
            let (base, fixed) = location.awslogs();
            let accounts: Vec<(Naming, String)> = match fixed.first() {
                Some(folder) => Naming::account_of(folder).into_iter().collect(),
                None => {
                    listing.read.prefixes += 1;
                    let page = self.list(&location.bucket, &base, true).await?;
                    page.folders
                        .iter()
                        .filter_map(|f| Naming::account_of(f))
                        .collect()
                }
            };
            let layout = !accounts.is_empty();
            let mut accounts = accounts;
            if let Some(only) = location.narrow.as_ref().and_then(|n| n.account.as_ref()) {
                accounts.retain(|(_, a)| a == only);
            }
            if !layout {
                // Not AWS's layout (files copied under a prefix of one's own): every object.
                listing.read.prefixes += 1;
                found = self
                    .list(&location.bucket, &location.prefix, false)
                    .await?
                    .objects;
            }
            for (naming, account) in accounts {
                let regions: Vec<String> = match (fixed.get(2), &location.narrow) {
                    (Some(r), _) => vec![naming.region_of(r)],
                    (None, Some(n)) => vec![n.region.clone()],
                    (None, None) => {
                        listing.read.prefixes += 1;
                        let service = format!("{base}{}", naming.service_folder(&account));
                        let page = self.list(&location.bucket, &service, true).await?;
                        page.folders.iter().map(|f| naming.region_of(f)).collect()
                    }
                };
                for region in regions {
                    let folder = format!("{base}{}", naming.region_folder(&account, &region));
                    for day in layout::days(wanted) {
                        let day_prefix = format!("{folder}{}", naming.day_folder(day));
                        listing.read.prefixes += 1;
                        let page = self.list(&location.bucket, &day_prefix, true).await?;
                        found.extend(page.objects);
                        let hours: BTreeSet<u8> = page
                            .folders
                            .iter()
                            .filter_map(|f| naming.hour_of(f))
                            .collect();
                        for hour in layout::hours(day, wanted) {
                            if !hours.contains(&hour) {
                                continue;
                            }
                            listing.read.prefixes += 1;
                            let hour_prefix = format!("{day_prefix}{}", naming.hour_folder(hour));
                            found.extend(
                                self.list(&location.bucket, &hour_prefix, false)
                                    .await?
                                    .objects,
                            );
                        }
                    }
                }
            }
            let mut delivered: BTreeSet<String> = BTreeSet::new();
            for o in found {
                // Two locations that overlap list the same object: read once.
                if !seen.insert((o.bucket.clone(), o.key.clone())) || o.key.ends_with('/') {
                    continue;
                }
                listing.read.listed += 1;
                listing.read.listed_bytes += o.size;
                // Other flow logs' objects in a shared bucket are not evidence of these hosts.
                if location.narrow.as_ref().is_some_and(|n| !n.keeps(&o.key)) {
                    listing.read.others += 1;
                    listing.read.others_bytes += o.size;
                    continue;
                }
                let named = layout::name_time(&o.key);
                // A gateway's objects never show the VPC flow logs delivered.
                if !location
                    .narrow
                    .as_ref()
                    .is_some_and(|n| n.is_gateways(&o.key))
                {
                    listing.newest = listing.newest.max(named);
                }
                if named.is_none_or(|t| (wanted.0..=wanted.1).contains(&t)) {
                    if let Some(id) = location.narrow.as_ref().and_then(|n| n.flow_log_of(&o.key)) {
                        delivered.insert(id.to_string());
                    }
                    listing.read.fetched += 1;
                    listing.read.fetched_bytes += o.size;
                    listing.objects.push(o);
                }
            }
            if let Some(n) = &location.narrow {
                for id in n.flow_logs.iter().filter(|id| !delivered.contains(*id)) {
                    listing.silent.push(format!("{id} in {}", location.url()));
                }
            }
        }
        Ok(listing)
    }
}

#[cfg(test)]
mod tests;
