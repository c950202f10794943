//! The URLs in a task's text, and the key a fetched page is cached under.

use url::Url;

/// How many links a task gets previews for.
pub const MAX_LINKS: usize = 5;
/// Longer URLs are not picked up, in bytes.
pub const URL_MAX: usize = 2048;

/// A URL found in a task's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The URL as written (parsed, so with its host lower-cased).
    pub url: Url,
    /// Its [`cache_key`]: two URLs with one key are one link.
    pub key: String,
}

/// The first [`MAX_LINKS`] distinct http and https URLs in `texts`, in
/// order (a task passes its title, then its description).
///
/// A URL ends at white space, `<`, `>`, `"` or a backtick; trailing
/// punctuation (`.,:;!?'*`) and closing brackets without their opening
/// one are not part of it, so `(see https://example.com/a_(b)).` gives
/// `https://example.com/a_(b)`. URLs with a user name or password are
/// skipped: previews never send credentials.
pub fn find<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<Found> {
    let mut found: Vec<Found> = Vec::new();
    for text in texts {
        let lower = text.to_ascii_lowercase();
        let mut from = 0;
        while let Some((start, end)) = next_candidate(text, &lower, from) {
            from = end;
            let Some(url) = parse(trim_candidate(&text[start..end])) else {
                continue;
            };
            let key = cache_key(&url);
            if found.iter().all(|f| f.key != key) {
                found.push(Found { url, key });
                if found.len() == MAX_LINKS {
                    return found;
                }
            }
        }
    }
    found
}

/// The span of the next `http://` or `https://` (any case) in `text` at or
/// after `from`, not glued to a preceding letter or digit. `lower` is
/// `text` in ASCII lower case (so its offsets are `text`'s).
fn next_candidate(text: &str, lower: &str, mut from: usize) -> Option<(usize, usize)> {
    while let Some(at) = lower[from..].find("http").map(|i| from + i) {
        from = at + 4;
        let scheme_len = if lower[at..].starts_with("https://") {
            8
        } else if lower[at..].starts_with("http://") {
            7
        } else {
            continue;
        };
        if text[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric)
        {
            continue;
        }
        let len = text[at..]
            .find(|c: char| c.is_whitespace() || c.is_control() || "<>\"`".contains(c))
            .unwrap_or(text.len() - at);
        if len > scheme_len {
            return Some((at, at + len));
        }
    }
    None
}

/// `candidate` without the punctuation that ends the sentence around it.
fn trim_candidate(mut candidate: &str) -> &str {
    loop {
        let Some(last) = candidate.chars().next_back() else {
            return candidate;
        };
        let unbalanced = |open: char, close: char| {
            last == close && candidate.matches(close).count() > candidate.matches(open).count()
        };
        if ".,:;!?'*".contains(last)
            || unbalanced('(', ')')
            || unbalanced('[', ']')
            || unbalanced('{', '}')
        {
            candidate = &candidate[..candidate.len() - last.len_utf8()];
        } else {
            return candidate;
        }
    }
}

fn parse(candidate: &str) -> Option<Url> {
    if candidate.len() > URL_MAX {
        return None;
    }
    let url = Url::parse(candidate).ok()?;
    let usable = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.username().is_empty()
        && url.password().is_none();
    usable.then_some(url)
}

/// The key a page's fetch result is shared under: the URL with its scheme
/// and host lower-cased, the host in ASCII (punycode), the default port
/// and dot segments removed (all done by parsing), and without the
/// fragment (never sent), an empty query, or a trailing dot on the host.
/// The query is kept as written: it often selects the page.
pub fn cache_key(url: &Url) -> String {
    let mut key = url.clone();
    key.set_fragment(None);
    if key.query() == Some("") {
        key.set_query(None);
    }
    if let Some(host) = key
        .host_str()
        .and_then(|h| h.strip_suffix('.'))
        .map(str::to_owned)
        && !host.is_empty()
    {
        // Cannot fail: the host only loses its trailing dot.
        let _ = key.set_host(Some(&host));
    }
    key.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(text: &str) -> Vec<String> {
        find([text]).into_iter().map(|f| f.url.into()).collect()
    }

    #[test]
    fn trailing_punctuation_is_not_part_of_a_url() {
        assert_eq!(
            urls(
                "See https://example.com/a. Or http://example.org/b?x=1, or https://example.net/c!"
            ),
            [
                "https://example.com/a",
                "http://example.org/b?x=1",
                "https://example.net/c"
            ]
        );
        assert_eq!(
            urls(
                "'https://example.com/q?' and \"https://example.com/r\"; *https://example.com/s*:"
            ),
            [
                "https://example.com/q",
                "https://example.com/r",
                "https://example.com/s"
            ]
        );
        // Inside the URL, punctuation stays.
        assert_eq!(
            urls("https://example.com/a.b,c;d"),
            ["https://example.com/a.b,c;d"]
        );
    }

    #[test]
    fn brackets_close_only_what_they_opened() {
        assert_eq!(
            urls("(see https://en.wikipedia.org/wiki/Rust_(programming_language))."),
            ["https://en.wikipedia.org/wiki/Rust_(programming_language)"]
        );
        assert_eq!(
            urls("[docs](https://docs.rs/url) and [x](https://example.com/a[1])"),
            ["https://docs.rs/url", "https://example.com/a[1]"]
        );
        assert_eq!(urls("<https://example.com/x>"), ["https://example.com/x"]);
        assert_eq!(urls("{https://example.com/y}"), ["https://example.com/y"]);
    }

    #[test]
    fn at_most_five_distinct_urls_title_first() {
        let title = "https://one.example/ and https://two.example/";
        let description = (3..=8)
            .map(|i| format!("https://site{i}.example/ "))
            .collect::<String>()
            + " HTTPS://TWO.EXAMPLE/#again";
        let found: Vec<String> = find([title, description.as_str()])
            .into_iter()
            .map(|f| f.key)
            .collect();
        assert_eq!(
            found,
            [
                "https://one.example/",
                "https://two.example/",
                "https://site3.example/",
                "https://site4.example/",
                "https://site5.example/"
            ]
        );
        let same = urls("https://a.example/x https://A.example:443/x#top https://a.example./x");
        assert_eq!(same, ["https://a.example/x"]);
    }

    #[test]
    fn only_http_and_https() {
        assert_eq!(
            urls(
                "ftp://example.com/f javascript:alert(1) mailto:a@example.com \
                 file:///etc/passwd data:text/html,x httpx://no.example/ \
                 xhttps://glued.example/ https:// http://:80/ HtTpS://mixed.example/ok"
            ),
            ["https://mixed.example/ok"]
        );
        assert_eq!(
            urls("no links here, just http and https"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn urls_with_credentials_are_skipped() {
        assert_eq!(
            urls("https://user:pw@example.com/ https://example.com/open"),
            ["https://example.com/open"]
        );
    }

    #[test]
    fn non_ascii_urls_are_kept_and_keyed_in_ascii() {
        let found = find(["Café: https://bücher.example/straße?q=ä."]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].key,
            "https://xn--bcher-kva.example/stra%C3%9Fe?q=%C3%A4"
        );
    }

    #[test]
    fn the_cache_key_ignores_what_does_not_change_the_page() {
        let key = |s: &str| cache_key(&Url::parse(s).unwrap());
        assert_eq!(
            key("HTTPS://Example.COM:443/a/./b/../c?#frag"),
            "https://example.com/a/c"
        );
        assert_eq!(key("http://example.com:80"), "http://example.com/");
        assert_eq!(key("http://example.com./x"), "http://example.com/x");
        assert_ne!(key("http://example.com/x"), key("https://example.com/x"));
        assert_ne!(
            key("http://example.com/x?a=1"),
            key("http://example.com/x?a=2")
        );
        assert_ne!(key("http://example.com/X"), key("http://example.com/x"));
    }
}
