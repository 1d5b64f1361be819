//! The kernel's list format for CPUs and NUMA nodes ("0-3,7"), as used by cpuset files,
//! `process.execCPUAffinity` and `linux.memoryPolicy.nodes`, parsed into a bit mask.

use anyhow::{bail, Context, Result};

/// The set bits of a list, as 64-bit words (bit n of word n/64 is CPU or node n). `limit` is
/// one past the highest number accepted.
pub fn parse(list: &str, limit: usize) -> Result<Vec<u64>> {
    let mut words = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (number(a, part)?, number(b, part)?),
            None => (number(part, part)?, number(part, part)?),
        };
        if lo > hi {
            bail!("invalid range {part:?} in {list:?}");
        }
        if hi >= limit {
            bail!("{hi} in {list:?} is out of range (at most {})", limit - 1);
        }
        if words.len() <= hi / 64 {
            words.resize(hi / 64 + 1, 0);
        }
        for n in lo..=hi {
            words[n / 64] |= 1 << (n % 64);
        }
    }
    if words.is_empty() {
        bail!("empty list {list:?}");
    }
    Ok(words)
}

fn number(s: &str, part: &str) -> Result<usize> {
    s.trim()
        .parse()
        .with_context(|| format!("invalid number in {part:?}"))
}

/// The numbers whose bits are set.
pub fn members(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    (0..words.len() * 64).filter(|n| words[n / 64] & (1 << (n % 64)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(parse("0", 8).unwrap(), vec![1]);
        assert_eq!(parse("0-2,5", 8).unwrap(), vec![0b100111]);
        assert_eq!(parse("1,65", 128).unwrap(), vec![2, 2]);
        assert_eq!(members(&[0b1010]).collect::<Vec<_>>(), vec![1, 3]);
        for bad in ["", "a", "3-1", "9", "1-", "-1"] {
            assert!(parse(bad, 8).is_err(), "{bad}");
        }
    }
}
