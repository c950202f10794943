//! The services' field-error descriptions in the page's language.
//!
//! The services describe an invalid field in English (the API's texts,
//! shown as they are to API clients). A German page shows each description
//! through a table of English patterns, `{}` standing for a variable part
//! (a number, a name), and their German forms, which take the parts in the
//! same order. A description the table does not know stays English, with a
//! warning in the log so the gap gets noticed.

use crate::i18n::Lang;

/// English pattern and German form. The German form may leave out a part
/// (the password estimator's advice is English free text, so German says
/// something fixed instead), never add one. Where two patterns match, the
/// one with more fixed text wins ("must be {} to {} printable characters
/// long" over "must be {} to {} characters long"), so order is free.
const TEXTS: &[(&str, &str)] = &[
    // Presence, length and form.
    ("is required", "muss angegeben werden"),
    (
        "must be {} to {} characters long",
        "muss {} bis {} Zeichen lang sein",
    ),
    (
        "must be {} to {} printable characters long",
        "muss {} bis {} druckbare Zeichen lang sein",
    ),
    (
        "must be {} to {} visible ASCII characters",
        "muss {} bis {} sichtbare ASCII-Zeichen lang sein",
    ),
    ("must be {} to {} bytes", "muss {} bis {} Bytes lang sein"),
    ("must be {} to {}", "muss zwischen {} und {} liegen"),
    (
        "must be at most {} characters long",
        "darf höchstens {} Zeichen lang sein",
    ),
    (
        "must be at most {} bytes long",
        "darf höchstens {} Bytes lang sein",
    ),
    (
        "must not contain control characters",
        "darf keine Steuerzeichen enthalten",
    ),
    ("must not be negative", "darf nicht negativ sein"),
    ("must be positive", "muss positiv sein"),
    ("must be one of: {}", "muss einer dieser Werte sein: {}"),
    // Accounts.
    (
        "is too easy to guess: {}",
        "ist zu leicht zu erraten. Nimm mehrere Wörter oder ein längeres Passwort.",
    ),
    (
        "must be a valid e-mail address",
        "muss eine gültige E-Mail-Adresse sein",
    ),
    ("must be an address", "muss eine Adresse sein"),
    (
        "is the account's address already",
        "ist schon die Adresse dieses Kontos",
    ),
    (
        "must be an IANA time zone name such as Europe/Berlin",
        "muss der Name einer IANA-Zeitzone sein, etwa Europe/Berlin",
    ),
    (
        "must be an IANA time zone name",
        "muss der Name einer IANA-Zeitzone sein",
    ),
    (
        "must name at most {} users",
        "darf höchstens {} Personen nennen",
    ),
    // Ids and tokens.
    ("must be an id", "muss eine Kennung sein"),
    ("must be a user id", "muss eine Personenkennung sein"),
    ("must be a task id", "muss eine Aufgabenkennung sein"),
    (
        "must be a task id or empty",
        "muss eine Aufgabenkennung oder leer sein",
    ),
    (
        "must be a notification id",
        "muss eine Benachrichtigungskennung sein",
    ),
    ("must be an e-mail id", "muss eine E-Mail-Kennung sein"),
    (
        "is not a page token of this query",
        "ist kein Seitenzeiger dieser Abfrage",
    ),
    (
        "was used for a different request",
        "wurde schon für eine andere Anfrage verwendet",
    ),
    (
        "unknown or read-only field {}",
        "unbekanntes oder nur lesbares Feld {}",
    ),
    // Tasks.
    ("unknown priority", "unbekannte Priorität"),
    ("at most {} labels", "höchstens {} Schlagwörter"),
    (
        "each label must be {} to {} printable characters",
        "jedes Schlagwort muss {} bis {} druckbare Zeichen lang sein",
    ),
    (
        "must be a time between years 0001 and 9999",
        "muss eine Zeit zwischen den Jahren 0001 und 9999 sein",
    ),
    ("must be a valid time", "muss eine gültige Zeit sein"),
    (
        "must be a calendar day: year 1..9999, month 1..12, a day the month has",
        "muss ein Kalendertag sein: Jahr 1..9999, Monat 1..12, ein Tag, den der Monat hat",
    ),
    (
        "give dueTime or dueDate, not both",
        "gib einen Tag oder einen Zeitpunkt an, nicht beides",
    ),
    (
        "needs a dueTime or dueDate",
        "braucht eine Fälligkeit (einen Tag oder einen Zeitpunkt)",
    ),
    (
        "must not be in the past",
        "darf nicht in der Vergangenheit liegen",
    ),
    ("at most {} reminders", "höchstens {} Erinnerungen"),
    (
        "give exactly one of remindTime and beforeDue",
        "gib genau eins an: einen Zeitpunkt oder eine Zeit vor der Fälligkeit",
    ),
    (
        "must be whole seconds from 0s to 365 days",
        "muss in ganzen Sekunden zwischen 0 Sekunden und 365 Tagen liegen",
    ),
    (
        "must be one of reminders when both are given",
        "muss eine der Erinnerungen sein, wenn beide angegeben sind",
    ),
    (
        "must hold at most {} times",
        "darf höchstens {} Zeitpunkte enthalten",
    ),
    (
        "must be a time of day as HH:MM (00:00 to 23:59)",
        "muss eine Uhrzeit als HH:MM sein (00:00 bis 23:59)",
    ),
    // Subtasks and moves.
    (
        "must be a task of the same list",
        "muss eine Aufgabe derselben Liste sein",
    ),
    (
        "subtasks nest at most {} levels deep",
        "Unteraufgaben reichen höchstens {} Ebenen tief",
    ),
    (
        "a task cannot move under itself or its subtasks",
        "eine Aufgabe kann nicht unter sich selbst oder ihre Unteraufgaben rücken",
    ),
    (
        "must be another task under the new parent",
        "muss eine andere Aufgabe unter der neuen Oberaufgabe sein",
    ),
    // Recurrence rules.
    (
        "must be an RFC 5545 RRULE such as FREQ=WEEKLY;BYDAY=MO",
        "muss eine RRULE nach RFC 5545 sein, etwa FREQ=WEEKLY;BYDAY=MO",
    ),
    (
        "must be the rule alone, without the RRULE: prefix",
        "muss die Regel allein sein, ohne das Präfix RRULE:",
    ),
    (
        "must hold only RRULE parts such as FREQ and BYDAY, no DTSTART, EXDATE or other property",
        "darf nur RRULE-Teile wie FREQ und BYDAY enthalten, kein DTSTART, EXDATE oder eine andere Eigenschaft",
    ),
    (
        "must name each RRULE part once",
        "muss jeden RRULE-Teil nur einmal nennen",
    ),
    (
        "FREQ must be HOURLY or slower",
        "FREQ muss HOURLY oder seltener sein",
    ),
    (
        "COUNT must be from {} to {}",
        "COUNT muss zwischen {} und {} liegen",
    ),
    (
        "INTERVAL must be from {} to {}",
        "INTERVAL muss zwischen {} und {} liegen",
    ),
    (
        "must not have both COUNT and UNTIL",
        "darf nicht COUNT und UNTIL zugleich haben",
    ),
    (
        "UNTIL must be a date such as {} or a UTC time such as {}",
        "UNTIL muss ein Datum wie {} oder eine UTC-Zeit wie {} sein",
    ),
    (
        "an all-day task repeats daily or slower",
        "eine ganztägige Aufgabe wiederholt sich höchstens täglich",
    ),
    (
        "an all-day task's rule cannot have BYHOUR, BYMINUTE or BYSECOND",
        "die Regel einer ganztägigen Aufgabe kann kein BYHOUR, BYMINUTE oder BYSECOND haben",
    ),
    // Lists and sharing.
    ("must be #rrggbb or empty", "muss #rrggbb oder leer sein"),
    ("must be EDITOR or VIEWER", "muss EDITOR oder VIEWER sein"),
    (
        "must be OWNER, EDITOR or VIEWER",
        "muss OWNER, EDITOR oder VIEWER sein",
    ),
    (
        "must be \"editor\" or \"viewer\"",
        "muss \"editor\" oder \"viewer\" sein",
    ),
    (
        "must be INVITATION or SHARING",
        "muss INVITATION oder SHARING sein",
    ),
    // Links.
    ("must be a URL", "muss eine URL sein"),
    (
        "must be an http or https URL, without a user name or password",
        "muss eine http- oder https-URL ohne Benutzername und Passwort sein",
    ),
    // E-mails (internal calls; listed so that no description is English).
    ("must name a template", "muss eine Vorlage nennen"),
    (
        "must not be DIGEST: this service makes digests itself",
        "darf nicht DIGEST sein: dieser Dienst erstellt Zusammenfassungen selbst",
    ),
];

/// `description`, a service's field-error text, in `lang`. One the table
/// does not know stays English (and is logged: the description only,
/// never what was typed into the form).
pub fn render(description: &str, lang: Lang) -> String {
    match lang {
        Lang::En => description.to_owned(),
        Lang::De => german(description).unwrap_or_else(|| {
            tracing::warn!(description, "no German text for a field error");
            description.to_owned()
        }),
    }
}

/// The German form of `description`, if a pattern matches it.
fn german(description: &str) -> Option<String> {
    TEXTS
        .iter()
        .filter_map(|(english, german)| {
            let parts = captures(english, description)?;
            Some((fixed_len(english), german, parts))
        })
        .max_by_key(|(fixed, ..)| *fixed)
        .map(|(_, german, parts)| fill(german, &parts))
}

/// How much of `pattern` is fixed text.
fn fixed_len(pattern: &str) -> usize {
    pattern.len() - 2 * pattern.matches("{}").count()
}

/// The variable parts of `text` if it reads as `pattern`, in order. A
/// part is a number or a name: at least one character, no white space,
/// ending where the next fixed piece first appears. Only a part that ends
/// the pattern right after ": " is free text (a list of names, advice),
/// so that "must be {} to {}" cannot swallow a sentence.
fn captures<'t>(pattern: &str, text: &'t str) -> Option<Vec<&'t str>> {
    let mut pieces = pattern.split("{}");
    // `split` yields at least one piece: the text before the first `{}`.
    let mut before = pieces.next()?;
    let mut rest = text.strip_prefix(before)?;
    let pieces: Vec<&str> = pieces.collect();
    let mut parts = Vec::with_capacity(pieces.len());
    for (i, piece) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        // The part takes at least the first character.
        let first = rest.chars().next()?.len_utf8();
        let end = if last {
            Some(rest.strip_suffix(piece)?.len()).filter(|&end| end >= first)?
        } else {
            first + rest[first..].find(piece)?
        };
        let part = &rest[..end];
        let free_text = last && piece.is_empty() && before.ends_with(": ");
        if !free_text && part.contains(char::is_whitespace) {
            return None;
        }
        parts.push(part);
        rest = &rest[end + piece.len()..];
        before = piece;
    }
    // The last part ran to the end; without parts the text must too.
    rest.is_empty().then_some(parts)
}

/// `template` with its `{}`s replaced by `parts`, in order.
fn fill(template: &str, parts: &[&str]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut parts = parts.iter();
    let mut pieces = template.split("{}");
    if let Some(first) = pieces.next() {
        out.push_str(first);
    }
    for piece in pieces {
        out.push_str(parts.next().copied().unwrap_or_default());
        out.push_str(piece);
    }
    out
}

#[cfg(test)]
mod source_scan;
#[cfg(test)]
mod tests;
