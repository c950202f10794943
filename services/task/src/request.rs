//! What every handler reads from a request besides its message:
//! `If-Match` and `Idempotency-Key`; and how a write retries after losing
//! to a concurrent one.

use tonic::metadata::MetadataMap;

use todo_common::status::FieldViolation;

use crate::error::Error;

/// The `idempotency-key` metadata, if any: 1..=200 visible ASCII characters.
pub fn idempotency_key(metadata: &MetadataMap) -> Result<Option<String>, Error> {
    let Some(v) = metadata.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        Error::from(FieldViolation::new(
            "Idempotency-Key",
            "must be 1 to 200 visible ASCII characters",
        ))
    };
    let key = v.to_str().map_err(|_| bad())?.trim();
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(key.to_owned()))
}

/// The etags an `if-match` header accepts; `None` without the header,
/// `Some(vec!["*"])` for any current version.
pub fn if_match(metadata: &MetadataMap) -> Option<Vec<String>> {
    let raw = metadata.get("if-match")?.to_str().unwrap_or("\u{0}");
    Some(
        raw.split(',')
            .map(|t| {
                t.trim()
                    .trim_start_matches("W/")
                    .trim_matches('"')
                    .to_owned()
            })
            .filter(|t| !t.is_empty())
            .collect(),
    )
}

/// `Ok` unless `If-Match` was sent without naming `etag` (or `*`).
pub fn check_etag(expected: Option<&[String]>, etag: &str) -> Result<(), Error> {
    match expected {
        Some(tags) if !tags.iter().any(|t| t == "*" || t == etag) => Err(Error::StaleEtag),
        _ => Ok(()),
    }
}

/// Runs `attempt` again while it loses to a concurrent transaction.
pub async fn retry<T, F, Fut>(attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    todo_store::db::retry_contended(|e| matches!(e, Error::Contended), attempt).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_quoted_weak_and_listed_etags() {
        let mut md = MetadataMap::new();
        assert_eq!(if_match(&md), None);
        md.insert("if-match", "W/\"1-2\", \"3-4\"".parse().unwrap());
        assert_eq!(
            if_match(&md),
            Some(vec!["1-2".to_owned(), "3-4".to_owned()])
        );
    }

    #[test]
    fn idempotency_keys_are_bounded() {
        let key = |raw: Option<&str>| {
            let mut md = MetadataMap::new();
            if let Some(raw) = raw {
                md.insert("idempotency-key", raw.parse().unwrap());
            }
            idempotency_key(&md)
        };
        assert_eq!(key(None).unwrap(), None);
        for bad in [
            String::new(),
            "   ".to_owned(),
            "x".repeat(201),
            "a b".to_owned(),
        ] {
            let err = key(Some(&bad)).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid(v) if v[0].field == "Idempotency-Key"),
                "{bad:?}: {err:?}"
            );
        }
        let longest = "x".repeat(200);
        assert_eq!(key(Some(&longest)).unwrap(), Some(longest));
        assert_eq!(key(Some(" abc-123 ")).unwrap().as_deref(), Some("abc-123"));
        assert_eq!(key(Some("~")).unwrap().as_deref(), Some("~"));
    }
}
