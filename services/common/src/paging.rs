//! Page sizes and page tokens shared by every list RPC.
//!
//! A page token is opaque to clients and tamper-evident: a cursor (where the
//! last page ended) plus an HMAC over the cursor and the query's scope (the
//! caller, the sort order, the filters). A forged token, or one taken from
//! another user or another query, fails verification and is rejected as
//! INVALID_ARGUMENT instead of reading anything.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::auth::ServiceCredential;
use crate::status::FieldViolation;

/// The page size when a request names none.
pub const DEFAULT_PAGE_SIZE: i32 = 50;
/// The largest page a request may ask for; larger asks are capped.
pub const MAX_PAGE_SIZE: i32 = 1000;

/// `page_size` of a request: 0 means the default, larger than the cap is
/// capped, negative is an error.
///
/// # Errors
/// A violation of `pageSize` when negative.
pub fn page_size(requested: i32) -> Result<usize, FieldViolation> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE.unsigned_abs() as usize),
        n if n < 0 => Err(FieldViolation::new("pageSize", "must not be negative")),
        n => Ok(n.min(MAX_PAGE_SIZE).unsigned_abs() as usize),
    }
}

/// Signs and verifies page tokens with a key only the service's replicas
/// share (derived from the service credential).
#[derive(Clone)]
pub struct PageTokens {
    key: [u8; 32],
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens(..)")
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the MAC kept in a token: 128 bits is ample against forgery and
/// keeps tokens short.
const MAC_LEN: usize = 16;

impl PageTokens {
    /// `purpose` separates the keys of different services and uses.
    pub fn new(credential: &ServiceCredential, purpose: &str) -> Self {
        Self {
            key: credential.derive_key(&format!("page-token:{purpose}")),
        }
    }

    fn mac(&self, scope: &str, payload: &[u8]) -> HmacSha256 {
        // A key of any length is accepted by HMAC.
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    /// A token for `cursor`, valid only with the same `scope`.
    pub fn encode<T: Serialize>(&self, scope: &str, cursor: &T) -> String {
        let payload = serde_json::to_vec(cursor).unwrap_or_default();
        let tag = self.mac(scope, &payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..MAC_LEN])
        )
    }

    /// The cursor of `token` if it was made by [`PageTokens::encode`] for
    /// `scope`; an empty token is the first page (`Ok(None)`).
    ///
    /// # Errors
    /// A violation of `pageToken` for anything else.
    pub fn decode<T: DeserializeOwned>(
        &self,
        scope: &str,
        token: &str,
    ) -> Result<Option<T>, FieldViolation> {
        if token.is_empty() {
            return Ok(None);
        }
        let bad = || FieldViolation::new("pageToken", "is not a page token of this query");
        let (payload, tag) = token.split_once('.').ok_or_else(bad)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
        if tag.len() != MAC_LEN {
            return Err(bad());
        }
        self.mac(scope, &payload)
            .verify_truncated_left(&tag)
            .map_err(|_| bad())?;
        serde_json::from_slice(&payload)
            .map(Some)
            .map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_only_in_their_scope() {
        let tokens = PageTokens::new(&ServiceCredential::random(), "t");
        let token = tokens.encode("alice|createTime", &(5_i64, "id"));
        let back: Option<(i64, String)> = tokens.decode("alice|createTime", &token).unwrap();
        assert_eq!(back, Some((5, "id".to_owned())));
        assert!(
            tokens
                .decode::<(i64, String)>("bob|createTime", &token)
                .is_err()
        );
        assert!(
            tokens
                .decode::<(i64, String)>("alice|priority desc", &token)
                .is_err()
        );
    }

    #[test]
    fn forged_and_foreign_tokens_are_rejected() {
        let tokens = PageTokens::new(&ServiceCredential::random(), "t");
        let other = PageTokens::new(&ServiceCredential::random(), "t");
        let token = other.encode("s", &1_i64);
        assert!(tokens.decode::<i64>("s", &token).is_err());
        let (_, tag) = tokens
            .encode("s", &1_i64)
            .split_once('.')
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(b"2"));
        assert!(tokens.decode::<i64>("s", &forged).is_err());
        assert!(tokens.decode::<i64>("s", "garbage").is_err());
        assert_eq!(tokens.decode::<i64>("s", "").unwrap(), None);
    }

    #[test]
    fn page_sizes_default_cap_and_refuse_negatives() {
        assert_eq!(page_size(0).unwrap(), 50);
        assert_eq!(page_size(5000).unwrap(), 1000);
        assert!(page_size(-1).is_err());
    }
}
