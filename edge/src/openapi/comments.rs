//! The comments of the `.proto` files, from the source info the descriptor
//! set carries, indexed once so that every descriptor finds its own.

use std::collections::HashMap;

use prost_reflect::{DescriptorPool, FileDescriptor};

/// Leading comments by file and source-info path.
#[derive(Debug, Default)]
pub struct Comments {
    by_location: HashMap<(String, Vec<i32>), String>,
}

/// What a comment says, split for OpenAPI.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Doc {
    /// The text, paragraphs separated by a blank line, without markers.
    pub text: String,
    /// The comment starts with AIP-203's "Output only." marker.
    pub output_only: bool,
    /// The comment starts with AIP-203's "Immutable." marker: set when
    /// the resource is made, never by a field mask.
    pub immutable: bool,
}

/// The AIP-203 marker of a field the server sets and a client's value
/// for which is ignored.
const OUTPUT_ONLY: &str = "Output only.";

/// The AIP-203 marker of a field a client sets on create only.
const IMMUTABLE: &str = "Immutable.";

impl Comments {
    /// Indexes every leading comment (or, lacking one, trailing comment)
    /// in `pool`.
    pub fn from_pool(pool: &DescriptorPool) -> Self {
        let mut by_location = HashMap::new();
        for file in pool.files() {
            let Some(info) = &file.file_descriptor_proto().source_code_info else {
                continue;
            };
            for location in &info.location {
                let comment = location
                    .leading_comments
                    .as_deref()
                    .or(location.trailing_comments.as_deref())
                    .map(tidy)
                    .filter(|text| !text.is_empty());
                if let Some(comment) = comment {
                    by_location.insert((file.name().to_owned(), location.path.clone()), comment);
                }
            }
        }
        Self { by_location }
    }

    /// The comment of the element at `path` in `file`.
    pub fn doc(&self, file: &FileDescriptor, path: &[i32]) -> Doc {
        let key = (file.name().to_owned(), path.to_vec());
        let text = self.by_location.get(&key).map_or("", String::as_str);
        if let Some(rest) = text.strip_prefix(OUTPUT_ONLY) {
            return Doc {
                text: rest.trim_start().to_owned(),
                output_only: true,
                immutable: false,
            };
        }
        if let Some(rest) = text.strip_prefix(IMMUTABLE) {
            return Doc {
                text: rest.trim_start().to_owned(),
                output_only: false,
                immutable: true,
            };
        }
        Doc {
            text: text.to_owned(),
            output_only: false,
            immutable: false,
        }
    }
}

impl Doc {
    /// The first sentence, for an operation's summary.
    pub fn summary(&self) -> &str {
        let first = self.text.split("\n\n").next().unwrap_or_default();
        match first.find(". ") {
            Some(end) => &first[..=end],
            None => first,
        }
    }
}

/// Joins the lines of each paragraph, trimmed, and separates paragraphs
/// with a blank line.
fn tidy(raw: &str) -> String {
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in raw.lines().map(str::trim) {
        if line.is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    paragraphs.join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_tidied_into_paragraphs() {
        assert_eq!(
            tidy(" Creates a task. The key\n makes a retry safe.\n\n Second.\n"),
            "Creates a task. The key makes a retry safe.\n\nSecond."
        );
    }

    #[test]
    fn the_summary_is_the_first_sentence() {
        let doc = Doc {
            text: "Creates a task. More here.".into(),
            output_only: false,
            immutable: false,
        };
        assert_eq!(doc.summary(), "Creates a task.");
    }
}
