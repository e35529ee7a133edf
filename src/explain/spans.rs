//! Address and port sets as sorted intervals, and the cutting of them into atoms: pieces inside
//! which every rule, entry and route decides alike, so that one address (or port) per piece stands
//! for all of it. Pure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use ipnet::IpNet;

use crate::resolve::Ranges;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

/// An inclusive interval of addresses of one family (IPv4 addresses are held as u128 too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub family: Family,
    pub lo: u128,
    pub hi: u128,
}

impl Span {
    pub fn of_net(net: &IpNet) -> Span {
        match net {
            IpNet::V4(n) => Span {
                family: Family::V4,
                lo: u128::from(u32::from(n.network())),
                hi: u128::from(u32::from(n.broadcast())),
            },
            IpNet::V6(n) => Span {
                family: Family::V6,
                lo: u128::from(n.network()),
                hi: u128::from(n.broadcast()),
            },
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (family, x) = key(ip);
        family == self.family && (self.lo..=self.hi).contains(&x)
    }

    fn nice(&self) -> Option<IpAddr> {
        const NICE_V4: [Ipv4Addr; 3] = [
            Ipv4Addr::new(203, 0, 113, 10),
            Ipv4Addr::new(198, 51, 100, 10),
            Ipv4Addr::new(192, 0, 2, 10),
        ];
        let nice_v6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
        let candidates: Vec<IpAddr> = match self.family {
            Family::V4 => NICE_V4.iter().map(|a| IpAddr::V4(*a)).collect(),
            Family::V6 => vec![IpAddr::V6(nice_v6)],
        };
        candidates.into_iter().find(|a| self.contains(*a))
    }

    /// Whether `pick` finds a documentation address in it.
    pub fn has_nice(&self) -> bool {
        self.nice().is_some()
    }

    /// One address of the span for words: a documentation address (RFC 5737, RFC 3849) when the
    /// span holds one, else its first host (not a network address ending in 0, when it can).
    pub fn pick(&self) -> IpAddr {
        if let Some(a) = self.nice() {
            return a;
        }
        let first = if self.hi > self.lo && self.lo.trailing_zeros() >= 8 {
            self.lo + 1
        } else {
            self.lo
        };
        addr(self.family, first)
    }
}

fn key(ip: IpAddr) -> (Family, u128) {
    match ip {
        IpAddr::V4(a) => (Family::V4, u128::from(u32::from(a))),
        IpAddr::V6(a) => (Family::V6, u128::from(a)),
    }
}

fn addr(family: Family, x: u128) -> IpAddr {
    match family {
        // IPv4 spans only ever hold u32 values.
        Family::V4 => IpAddr::V4(Ipv4Addr::from(x as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(x)),
    }
}

/// Sorted, disjoint, non-touching spans.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spans(Vec<Span>);

impl Spans {
    pub fn of_nets<'a>(nets: impl IntoIterator<Item = &'a IpNet>) -> Spans {
        Spans::normalized(nets.into_iter().map(Span::of_net).collect())
    }

    pub fn of_ranges(r: &Ranges) -> Spans {
        Spans::of_nets(&r.networks())
    }

    pub fn all() -> Spans {
        Spans(vec![
            Span {
                family: Family::V4,
                lo: 0,
                hi: u128::from(u32::MAX),
            },
            Span {
                family: Family::V6,
                lo: 0,
                hi: u128::MAX,
            },
        ])
    }

    fn normalized(mut v: Vec<Span>) -> Spans {
        v.sort();
        let mut out: Vec<Span> = Vec::with_capacity(v.len());
        for s in v {
            match out.last_mut() {
                Some(last) if last.family == s.family && s.lo <= last.hi.saturating_add(1) => {
                    last.hi = last.hi.max(s.hi);
                }
                _ => out.push(s),
            }
        }
        Spans(out)
    }

    pub fn of_span(s: Span) -> Spans {
        Spans(vec![s])
    }

    pub fn spans(&self) -> &[Span] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|s| s.contains(ip))
    }

    pub fn union(&self, other: &Spans) -> Spans {
        Spans::normalized(self.0.iter().chain(&other.0).copied().collect())
    }

    pub fn intersect(&self, other: &Spans) -> Spans {
        let mut out = Vec::new();
        for a in &self.0 {
            for b in other.0.iter().filter(|b| b.family == a.family) {
                let (lo, hi) = (a.lo.max(b.lo), a.hi.min(b.hi));
                if lo <= hi {
                    out.push(Span {
                        family: a.family,
                        lo,
                        hi,
                    });
                }
            }
        }
        Spans::normalized(out)
    }

    pub fn subtract(&self, other: &Spans) -> Spans {
        let mut out = Vec::new();
        for a in &self.0 {
            let mut lo = a.lo;
            let mut done = false;
            for b in other.0.iter().filter(|b| b.family == a.family) {
                if b.hi < lo || b.lo > a.hi {
                    continue;
                }
                if b.lo > lo {
                    out.push(Span {
                        family: a.family,
                        lo,
                        hi: b.lo - 1,
                    });
                }
                if b.hi >= a.hi {
                    done = true;
                    break;
                }
                lo = b.hi + 1;
            }
            if !done {
                out.push(Span {
                    family: a.family,
                    lo,
                    hi: a.hi,
                });
            }
        }
        Spans::normalized(out)
    }

    /// The fewest CIDR networks that hold exactly these addresses.
    pub fn networks(&self) -> Vec<IpNet> {
        let mut out = Vec::new();
        for s in &self.0 {
            let bits: u32 = match s.family {
                Family::V4 => 32,
                Family::V6 => 128,
            };
            let mut lo = s.lo;
            loop {
                // The largest aligned block at `lo` that does not run past `hi`.
                let mut size = if lo == 0 {
                    bits
                } else {
                    lo.trailing_zeros().min(bits)
                };
                let end = |lo: u128, size: u32| {
                    if size == 128 {
                        u128::MAX
                    } else {
                        lo + ((1u128 << size) - 1)
                    }
                };
                while end(lo, size) > s.hi {
                    size -= 1;
                }
                let prefix = (bits - size) as u8;
                let net = match s.family {
                    Family::V4 => ipnet::Ipv4Net::new(Ipv4Addr::from(lo as u32), prefix)
                        .map(IpNet::V4)
                        .ok(),
                    Family::V6 => ipnet::Ipv6Net::new(Ipv6Addr::from(lo), prefix)
                        .map(IpNet::V6)
                        .ok(),
                };
                out.extend(net);
                let last = end(lo, size);
                if last >= s.hi {
                    break;
                }
                lo = last + 1;
            }
        }
        out
    }

    /// `10.0.1.10, 10.0.2.0/24`: at most `max` networks, then how many more.
    pub fn describe(&self, max: usize) -> String {
        let nets = self.networks();
        let mut parts: Vec<String> = nets.iter().take(max).map(show_net).collect();
        if nets.len() > max {
            parts.push(format!("{} more", nets.len() - max));
        }
        parts.join(", ")
    }

    /// These addresses cut at the first and past the last address of every network in `cuts`:
    /// inside each piece, membership in any of `cuts` is the same for every address.
    pub fn atoms(&self, cuts: &[IpNet]) -> Vec<Span> {
        let mut out = Vec::new();
        for s in &self.0 {
            let mut points: Vec<u128> = cuts
                .iter()
                .map(Span::of_net)
                .filter(|c| c.family == s.family)
                .flat_map(|c| [Some(c.lo), c.hi.checked_add(1)])
                .flatten()
                .filter(|p| *p > s.lo && *p <= s.hi)
                .collect();
            points.sort_unstable();
            points.dedup();
            let mut lo = s.lo;
            for p in points {
                out.push(Span {
                    family: s.family,
                    lo,
                    hi: p - 1,
                });
                lo = p;
            }
            out.push(Span {
                family: s.family,
                lo,
                hi: s.hi,
            });
        }
        out
    }
}

/// A network in words: a single address without its prefix length.
pub fn show_net(n: &IpNet) -> String {
    if n.prefix_len() == n.max_prefix_len() {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

/// Ports `ranges` cut at every bound of `cuts` (inclusive i32 bounds, as rules give them).
pub fn port_atoms(ranges: &[RangeInclusive<u16>], cuts: &[(i32, i32)]) -> Vec<RangeInclusive<u16>> {
    let mut out = Vec::new();
    for r in ranges {
        let (lo, hi) = (u32::from(*r.start()), u32::from(*r.end()));
        let mut points: Vec<u32> = cuts
            .iter()
            .flat_map(|&(from, to)| [from, to.saturating_add(1)])
            .filter_map(|p| u32::try_from(p).ok())
            .filter(|p| *p > lo && *p <= hi)
            .collect();
        points.sort_unstable();
        points.dedup();
        let mut start = lo;
        for p in points {
            out.push(narrow(start)..=narrow(p - 1));
            start = p;
        }
        out.push(narrow(start)..=narrow(hi));
    }
    out
}

/// Bounds computed from u16 ports stay within u16.
fn narrow(p: u32) -> u16 {
    u16::try_from(p).unwrap_or(u16::MAX)
}

/// Whether `ranges` hold every port of `whole`.
pub fn ports_cover(ranges: &[RangeInclusive<u16>], whole: &RangeInclusive<u16>) -> bool {
    let mut v: Vec<&RangeInclusive<u16>> = ranges.iter().collect();
    v.sort_by_key(|r| *r.start());
    let mut next = u32::from(*whole.start());
    for r in v {
        if u32::from(*r.start()) > next {
            break;
        }
        next = next.max(u32::from(*r.end()) + 1);
    }
    next > u32::from(*whole.end())
}

/// Port ranges as sorted, merged intervals, in words: `22`, `8000-8100, 9090`.
pub fn describe_ports(ranges: &[RangeInclusive<u16>]) -> String {
    let mut v: Vec<RangeInclusive<u16>> = ranges.to_vec();
    v.sort_by_key(|r| *r.start());
    let mut merged: Vec<RangeInclusive<u16>> = Vec::new();
    for r in v {
        match merged.last_mut() {
            Some(last) if u32::from(*r.start()) <= u32::from(*last.end()) + 1 => {
                *last = *last.start()..=(*last.end()).max(*r.end());
            }
            _ => merged.push(r),
        }
    }
    merged
        .iter()
        .map(|r| {
            if r.start() == r.end() {
                r.start().to_string()
            } else {
                format!("{}-{}", r.start(), r.end())
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
