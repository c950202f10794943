//! What a page says about itself: its OpenGraph tags, its Twitter card and
//! its HTML head, in that order of precedence.
//!
//! Everything here is what the page's author chose to publish, cleaned up
//! (white space collapsed, character references already decoded by the
//! parser, lengths capped) and nothing more: no cookie, header or address
//! of the fetch reaches a [`Preview`].

use scraper::{ElementRef, Html};
use url::Url;

/// Longest title kept, in characters.
pub const TITLE_MAX: usize = 300;
/// Longest description kept, in characters.
pub const DESCRIPTION_MAX: usize = 1000;
/// Longest site name kept, in characters.
pub const SITE_NAME_MAX: usize = 100;
/// Longest URL kept (image, icon, canonical), in bytes once serialised.
pub const URL_MAX: usize = 2048;

const HTML_NS: &str = "http://www.w3.org/1999/xhtml";

/// A page's preview. Every field is optional: pages say what they like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preview {
    /// `og:title`, `twitter:title`, or `<title>`.
    pub title: Option<String>,
    /// `og:description`, `twitter:description`, or
    /// `<meta name=description>`.
    pub description: Option<String>,
    /// `og:site_name`.
    pub site_name: Option<String>,
    /// `og:image` (or `og:image:url`, `og:image:secure_url`), or
    /// `twitter:image`; absolute, http or https. Never fetched by the
    /// service: clients load it.
    pub image_url: Option<Url>,
    /// `<link rel=icon>` (or `apple-touch-icon`); absolute, http or https.
    pub icon_url: Option<Url>,
    /// `<link rel=canonical>`; absolute, http or https. What the page
    /// claims to be: any page can claim any URL, so this is for display,
    /// never a cache key.
    pub canonical_url: Option<Url>,
}

impl Preview {
    /// Whether the page said nothing worth showing (no title, description,
    /// site name or image).
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.site_name.is_none()
            && self.image_url.is_none()
    }
}

/// The first non-blank value found for each property, in document order.
#[derive(Default)]
struct Found {
    og_title: Option<String>,
    og_description: Option<String>,
    og_site_name: Option<String>,
    og_image: Option<String>,
    twitter_title: Option<String>,
    twitter_description: Option<String>,
    twitter_image: Option<String>,
    title: Option<String>,
    description: Option<String>,
    icon: Option<String>,
    canonical: Option<String>,
    base: Option<String>,
}

fn keep_first(slot: &mut Option<String>, value: Option<&str>) {
    if slot.is_none()
        && let Some(v) = value
        && !todo_common::text::is_blank(v)
    {
        *slot = Some(v.to_owned());
    }
}

/// The preview of `html`, a page fetched from `page_url` (after
/// redirects), against which relative URLs are resolved (or against its
/// `<base href>`, when that is http or https).
pub fn extract(html: &str, page_url: &Url) -> Preview {
    let doc = Html::parse_document(html);
    let mut found = Found::default();
    for el in doc.root_element().descendent_elements() {
        // `<title>` inside inline SVG or MathML is not the page's.
        if &*el.value().name.ns != HTML_NS {
            continue;
        }
        match el.value().name() {
            "meta" => meta(&el, &mut found),
            "title" => keep_first(&mut found.title, Some(&el.text().collect::<String>())),
            "link" => {
                let rel = el.attr("rel").unwrap_or_default().to_ascii_lowercase();
                let mut rel = rel.split_ascii_whitespace();
                if rel.clone().any(|r| r == "canonical") {
                    keep_first(&mut found.canonical, el.attr("href"));
                } else if rel.any(|r| r == "icon" || r == "apple-touch-icon") {
                    keep_first(&mut found.icon, el.attr("href"));
                }
            }
            "base" => keep_first(&mut found.base, el.attr("href")),
            _ => {}
        }
    }

    let base = found
        .base
        .as_deref()
        .and_then(|href| absolute_url(page_url, href))
        .unwrap_or_else(|| page_url.clone());
    let url = |raw: Option<String>| raw.and_then(|raw| absolute_url(&base, &raw));
    Preview {
        title: first_clean(
            [found.og_title, found.twitter_title, found.title],
            TITLE_MAX,
        ),
        description: first_clean(
            [
                found.og_description,
                found.twitter_description,
                found.description,
            ],
            DESCRIPTION_MAX,
        ),
        site_name: first_clean([found.og_site_name], SITE_NAME_MAX),
        image_url: url(found.og_image).or_else(|| url(found.twitter_image)),
        icon_url: url(found.icon),
        canonical_url: url(found.canonical),
    }
}

/// One `<meta>`: OpenGraph properties and Twitter names, wherever a page
/// put them (`property` or `name`; sites mix them up).
fn meta(el: &ElementRef<'_>, found: &mut Found) {
    let content = el.attr("content");
    for key in [el.attr("property"), el.attr("name")].into_iter().flatten() {
        let slot = match key.trim().to_ascii_lowercase().as_str() {
            "og:title" => &mut found.og_title,
            "og:description" => &mut found.og_description,
            "og:site_name" => &mut found.og_site_name,
            "og:image" | "og:image:url" | "og:image:secure_url" => &mut found.og_image,
            "twitter:title" => &mut found.twitter_title,
            "twitter:description" => &mut found.twitter_description,
            "twitter:image" | "twitter:image:src" => &mut found.twitter_image,
            "description" => &mut found.description,
            _ => continue,
        };
        keep_first(slot, content);
    }
}

/// The first of `candidates` that is still text once cleaned.
fn first_clean<const N: usize>(candidates: [Option<String>; N], max: usize) -> Option<String> {
    candidates
        .into_iter()
        .flatten()
        .find_map(|raw| clean_text(&raw, max))
}

/// `raw` with every run of white space and control characters made one
/// space, trimmed, and cut to `max` characters (the last one an ellipsis
/// when cut); `None` when nothing visible is left.
pub fn clean_text(raw: &str, max: usize) -> Option<String> {
    let mut out = String::with_capacity(raw.len().min(max * 4));
    let mut pending_space = false;
    for c in raw.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    if todo_common::text::is_blank(&out) {
        return None;
    }
    if out.chars().count() > max {
        let mut cut: String = out.chars().take(max.saturating_sub(1)).collect();
        cut.truncate(cut.trim_end().len());
        cut.push('…');
        out = cut;
    }
    Some(out)
}

/// `raw` resolved against `base`, if the result is an http or https URL
/// with a host, without credentials, and not too long. Drops
/// `javascript:`, `data:` and every other scheme.
pub fn absolute_url(base: &Url, raw: &str) -> Option<Url> {
    let url = base.join(raw.trim()).ok()?;
    let usable = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.username().is_empty()
        && url.password().is_none()
        && url.as_str().len() <= URL_MAX;
    usable.then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any bytes a server sends, decoded as the fetch decodes them, are
    /// read without a panic and in bounded time, and what is kept stays
    /// within its limits. A fixed-seed generator (xorshift) makes the run
    /// repeatable; the bytes lean on HTML's own characters so the parser
    /// meets tags, attributes and references, not only noise.
    #[test]
    fn arbitrary_bytes_are_read_without_panic_in_bounded_time() {
        const PIECES: [&[u8]; 12] = [
            b"<",
            b">",
            b"<meta property=\"og:",
            b"title",
            b"content=\"",
            b"\"",
            b"<title>",
            b"</title>",
            b"&amp;",
            b"<base href=",
            b"\xff\xfe",
            b"<!--",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let started = std::time::Instant::now();
        for _ in 0..300 {
            let len = usize::try_from(next() % 2048).unwrap();
            let mut body = Vec::with_capacity(len);
            while body.len() < len {
                let pick = next();
                if pick % 3 == 0 {
                    body.extend_from_slice(PIECES[usize::try_from(pick % 12).unwrap()]);
                } else {
                    body.push(pick.to_le_bytes()[1]);
                }
            }
            let html = crate::preview::fetch::decode(&body, None);
            let preview = preview(&html);
            assert!(preview.title.is_none_or(|t| t.chars().count() <= TITLE_MAX));
            assert!(
                preview
                    .description
                    .is_none_or(|d| d.chars().count() <= DESCRIPTION_MAX)
            );
            assert!(
                preview
                    .image_url
                    .is_none_or(|u| matches!(u.scheme(), "http" | "https"))
            );
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "took {:?}",
            started.elapsed()
        );
    }

    fn page() -> Url {
        Url::parse("https://example.com/articles/42?ref=x").unwrap()
    }

    fn preview(html: &str) -> Preview {
        extract(html, &page())
    }

    #[test]
    fn opengraph_wins_over_twitter_and_the_head() {
        let p = preview(
            r#"<html><head>
            <title>Head title</title>
            <meta name="description" content="Head description">
            <meta name="twitter:title" content="Card title">
            <meta name="twitter:description" content="Card description">
            <meta name="twitter:image" content="https://cdn.example.com/card.png">
            <meta property="og:title" content="OG title">
            <meta property="og:description" content="OG description">
            <meta property="og:site_name" content="Example News">
            <meta property="og:image" content="https://cdn.example.com/og.png">
            </head><body></body></html>"#,
        );
        assert_eq!(p.title.as_deref(), Some("OG title"));
        assert_eq!(p.description.as_deref(), Some("OG description"));
        assert_eq!(p.site_name.as_deref(), Some("Example News"));
        assert_eq!(
            p.image_url.map(String::from).as_deref(),
            Some("https://cdn.example.com/og.png")
        );
    }

    #[test]
    fn twitter_card_wins_over_the_head() {
        let p = preview(
            r#"<title>Head title</title>
            <meta name="description" content="Head description">
            <meta name="twitter:title" content="Card title">
            <meta name="twitter:description" content="Card description">
            <meta name="twitter:image:src" content="/card.png">"#,
        );
        assert_eq!(p.title.as_deref(), Some("Card title"));
        assert_eq!(p.description.as_deref(), Some("Card description"));
        assert_eq!(
            p.image_url.map(String::from).as_deref(),
            Some("https://example.com/card.png")
        );
    }

    #[test]
    fn the_head_is_the_fallback() {
        let p = preview(
            r#"<!doctype html><html><head>
            <meta name="viewport" content="width=device-width">
            <meta name="generator" content="Some CMS">
            <meta property="article:author" content="Someone">
            <title> Plain page </title>
            <meta name="Description" content="What it is about">
            <meta property="og:title" content="   ">
            </head><body><h1>Not this</h1></body></html>"#,
        );
        assert_eq!(p.title.as_deref(), Some("Plain page"));
        assert_eq!(p.description.as_deref(), Some("What it is about"));
        assert_eq!(p.site_name, None);
        assert_eq!(p.image_url, None);
        assert!(!p.is_empty());
        assert!(preview("<p>nothing here</p>").is_empty());
    }

    #[test]
    fn a_title_inside_svg_is_not_the_page_title() {
        let p =
            preview("<body><svg><title>Icon label</title></svg><title>Real title</title></body>");
        assert_eq!(p.title.as_deref(), Some("Real title"));
    }

    #[test]
    fn relative_urls_become_absolute() {
        let p = preview(
            r#"<meta property="og:image" content="../img/cover.jpg">
            <link rel="shortcut icon" href="/favicon.ico">
            <link rel="canonical" href="//example.com/a/42">"#,
        );
        assert_eq!(
            p.image_url.map(String::from).as_deref(),
            Some("https://example.com/img/cover.jpg")
        );
        assert_eq!(
            p.icon_url.map(String::from).as_deref(),
            Some("https://example.com/favicon.ico")
        );
        assert_eq!(
            p.canonical_url.map(String::from).as_deref(),
            Some("https://example.com/a/42")
        );
    }

    #[test]
    fn relative_urls_follow_base_href() {
        let p = preview(
            r#"<base href="https://static.example.net/s/"><meta property="og:image" content="x.png">"#,
        );
        assert_eq!(
            p.image_url.map(String::from).as_deref(),
            Some("https://static.example.net/s/x.png")
        );
        // A base that is not http(s) is ignored.
        let p = preview(r#"<base href="javascript:/"><meta property="og:image" content="x.png">"#);
        assert_eq!(
            p.image_url.map(String::from).as_deref(),
            Some("https://example.com/articles/x.png")
        );
    }

    #[test]
    fn image_urls_other_than_http_and_https_are_dropped() {
        for bad in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "java\tscript:alert(1)",
            "data:image/png;base64,iVBORw0KGgo=",
            "vbscript:msgbox",
            "file:///etc/passwd",
            "ftp://example.com/a.png",
            "https://user:pw@example.com/a.png",
        ] {
            let p = preview(&format!(
                r#"<meta property="og:image" content="{bad}"><link rel=icon href="{bad}">"#
            ));
            assert_eq!(p.image_url, None, "{bad}");
            assert_eq!(p.icon_url, None, "{bad}");
        }
        // The next candidate is taken instead.
        let p = preview(
            r#"<meta property="og:image" content="data:x"><meta name="twitter:image" content="https://example.com/t.png">"#,
        );
        assert_eq!(
            p.image_url.map(String::from).as_deref(),
            Some("https://example.com/t.png")
        );
    }

    #[test]
    fn white_space_and_character_references_are_normalised() {
        let p = preview(
            "<title>\n  Fish &amp; Chips&nbsp;&#8212;\tthe&#x20;best\u{0007}  in town  \n</title>\
             <meta name=description content=\"Caf&eacute; &lt;3 &quot;quoted&quot;\r\n next line\">",
        );
        assert_eq!(p.title.as_deref(), Some("Fish & Chips — the best in town"));
        assert_eq!(
            p.description.as_deref(),
            Some("Café <3 \"quoted\" next line")
        );
    }

    #[test]
    fn text_is_capped() {
        let long = "word ".repeat(1000);
        let p = preview(&format!(
            r#"<title>{long}</title><meta name=description content="{long}"><meta property="og:site_name" content="{long}">"#
        ));
        let title = p.title.unwrap();
        assert_eq!(title.chars().count(), TITLE_MAX);
        assert!(title.ends_with("word…"), "{title}");
        assert!(p.description.unwrap().chars().count() <= DESCRIPTION_MAX);
        assert!(p.site_name.unwrap().chars().count() <= SITE_NAME_MAX);
        assert_eq!(clean_text("ab", 2).as_deref(), Some("ab"));
        assert_eq!(clean_text("abc", 2).as_deref(), Some("a…"));
        assert_eq!(clean_text(" \u{200B} ", 10), None);
        let long_url = format!("https://example.com/{}", "a".repeat(URL_MAX));
        assert_eq!(absolute_url(&page(), &long_url), None);
    }
}
