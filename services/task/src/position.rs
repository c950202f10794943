//! Manual order: a task's position among its siblings is a string of
//! base-36 digits (`0-9a-z`) read as a fraction, so a task can always be
//! placed between two others by writing only its own row.
//!
//! Two kinds of keys keep the strings short:
//! - appending (the common case) counts up: `a0`, `a1`, ... `az`, `b10`:
//!   the first letter gives the length of the integer after it (`a` one
//!   digit, `b` two, ...), so n appends need about log36(n) characters;
//! - placing between two keys takes their midpoint digit by digit, which
//!   adds about one character per five insertions at the same spot.
//!
//! Only lower-case letters and digits are used, so the byte order SQLite
//! compares in and the case-insensitive collation MariaDB compares in
//! agree. No key ends in `0` except by counting, and no two keys are equal
//! as fractions, so there is always room between two of them.

const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const BASE: u8 = 36;

/// The longest key kept; a longer one makes the caller renumber the
/// siblings (see [`renumbered`]).
pub const MAX_LEN: usize = 200;

fn value(c: u8) -> Option<u8> {
    DIGITS
        .iter()
        .position(|&d| d == c)
        .and_then(|v| u8::try_from(v).ok())
}

fn digits(key: &str) -> Option<Vec<u8>> {
    key.bytes().map(value).collect()
}

fn text(values: &[u8]) -> String {
    values
        .iter()
        .map(|&v| char::from(DIGITS[usize::from(v)]))
        .collect()
}

/// The first key of a counted sequence.
pub const FIRST: &str = "a0";

/// A key strictly between `lo` and `hi` (`None`: the start and the end of
/// the siblings). `None` when `lo` is not below `hi` or a key is not made
/// of base-36 digits: stored keys always are, so that is a bug upstream.
pub fn between(lo: Option<&str>, hi: Option<&str>) -> Option<String> {
    match (lo, hi) {
        (None, None) => Some(FIRST.to_owned()),
        (Some(lo), None) => after(lo),
        (lo, Some(hi)) => midpoint(&digits(lo.unwrap_or(""))?, &digits(hi)?),
    }
}

/// A key after `lo` with nothing above it: `lo` counted up when it is a
/// counted key, else the first counted key when that is greater (every
/// key that starts with a digit is below `a0`), else a midpoint.
fn after(lo: &str) -> Option<String> {
    let values = digits(lo)?;
    let first = *values.first()?;
    if first < 10 {
        return Some(FIRST.to_owned());
    }
    let len = usize::from(first - 9);
    match values.get(1..=len) {
        Some(int) => Some(count_up(first, int)),
        None => midpoint_to_end(&values),
    }
}

/// The counted key after the integer `int` of length letter `head`.
fn count_up(head: u8, int: &[u8]) -> String {
    let mut next = int.to_vec();
    for d in next.iter_mut().rev() {
        if *d + 1 < BASE {
            *d += 1;
            let mut key = vec![head];
            key.extend(next);
            return text(&key);
        }
        *d = 0;
    }
    // Every digit was `z`: one digit longer, starting at 1 (as a fraction
    // it is still above every shorter key, whose letter is smaller).
    let mut key = vec![head + 1, 1];
    key.extend(std::iter::repeat_n(0, int.len()));
    text(&key)
}

/// A key above `lo` with nothing above it: `lo`'s digits until one leaves
/// room below 36, then the midpoint there. Past `lo`'s end a digit is 0,
/// so the loop ends by then.
fn midpoint_to_end(lo: &[u8]) -> Option<String> {
    let mut out = Vec::new();
    for i in 0..=lo.len() {
        let a = lo.get(i).copied().unwrap_or(0);
        if BASE - a > 1 {
            out.push(a.midpoint(BASE));
            return Some(text(&out));
        }
        out.push(a);
    }
    None
}

/// The digit-by-digit midpoint of `lo < hi` read as fractions. Two keys
/// that agree on every digit either has are equal as fractions: no room.
fn midpoint(lo: &[u8], hi: &[u8]) -> Option<String> {
    let mut out = Vec::new();
    for i in 0..lo.len().max(hi.len()) {
        let a = lo.get(i).copied().unwrap_or(0);
        let b = hi.get(i).copied().unwrap_or(0);
        match b.checked_sub(a) {
            None => return None, // lo above hi
            // The same digit: the result shares it with both.
            Some(0) => out.push(a),
            Some(1) => {
                // Below `hi` from here on: continue above `lo` alone.
                out.push(a);
                let rest = midpoint_to_end(lo.get(i + 1..).unwrap_or(&[]))?;
                return Some(text(&out) + &rest);
            }
            Some(_) => {
                out.push(a.midpoint(b));
                return Some(text(&out));
            }
        }
    }
    None
}

/// `n` fresh counted keys in order, for renumbering siblings whose keys
/// have grown past [`MAX_LEN`].
pub fn renumbered(n: usize) -> Vec<String> {
    let mut keys = Vec::with_capacity(n);
    let mut key = FIRST.to_owned();
    for _ in 0..n {
        let next = after(&key).unwrap_or_default();
        keys.push(std::mem::replace(&mut key, next));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appending_counts_up_with_short_keys() {
        let mut keys = vec![between(None, None).unwrap()];
        for _ in 0..10_000 {
            let next = between(keys.last().map(String::as_str), None).unwrap();
            assert!(next > *keys.last().unwrap(), "{next}");
            keys.push(next);
        }
        assert_eq!(&keys[..3], ["a0", "a1", "a2"]);
        assert_eq!(&keys[35..38], ["az", "b10", "b11"]);
        assert_eq!(between(Some("bzz"), None).unwrap(), "c100");
        assert!(
            keys.iter().all(|k| k.len() <= 4),
            "{}",
            keys.last().unwrap()
        );
    }

    #[test]
    fn a_key_between_two_sorts_between_them() {
        let cases = [
            (None, "a0"),
            (Some("a0"), "a1"),
            (Some("a5"), "a6"),
            (Some("a5"), "a5i"),
            (Some("019a3b0c"), "019a3b0d"),
            (Some("019a3b0c"), "a0"),
            (Some("az"), "b10"),
            (Some("a0z"), "a1"),
        ];
        for (lo, hi) in cases {
            let mid = between(lo, Some(hi)).unwrap();
            assert!(lo.is_none_or(|lo| lo < mid.as_str()), "{lo:?} < {mid}");
            assert!(mid.as_str() < hi, "{mid} < {hi}");
            assert!(!mid.ends_with('0'), "{mid}");
        }
    }

    #[test]
    fn repeated_insertion_at_one_spot_stays_ordered() {
        let (lo, mut hi) = ("a0".to_owned(), "a1".to_owned());
        for _ in 0..500 {
            let mid = between(Some(&lo), Some(&hi)).unwrap();
            assert!(lo < mid && mid < hi, "{lo} < {mid} < {hi}");
            hi = mid;
        }
        assert!(hi.len() < 120, "{}", hi.len());
    }

    #[test]
    fn migrated_keys_are_followed_by_counted_ones() {
        // A task id without dashes, as the migration stores it.
        let migrated = "019ad2f4c1e87b3a9f0e6d5c4b3a2910";
        assert_eq!(between(Some(migrated), None).unwrap(), "a0");
    }

    #[test]
    fn no_key_fits_between_equal_or_inverted_bounds() {
        assert_eq!(between(Some("a5"), Some("a5")), None);
        assert_eq!(between(Some("a6"), Some("a5")), None);
        assert_eq!(between(Some("A"), None), None);
    }

    #[test]
    fn renumbering_gives_increasing_counted_keys() {
        let keys = renumbered(100);
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(keys[0], FIRST);
    }
}
