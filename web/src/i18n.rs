//! German and English: the language of a request, and every text the
//! pages show, looked up by key. Templates hold keys only.

/// The cookie that holds a language chosen with the footer's switch; it
/// outranks `Accept-Language`.
pub const COOKIE: &str = "lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

impl Lang {
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Self::En),
            "de" => Some(Self::De),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
        }
    }

    /// The language of `Accept-Language`: the supported one with the
    /// highest weight (`de-AT` counts as German), English when none.
    pub fn from_accept_language(header: &str) -> Self {
        let mut best: Option<(f32, Self)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let tag = parts.next().unwrap_or_default().to_ascii_lowercase();
            let weight = parts
                .find_map(|p| p.strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or_default();
            let Some(lang) = Self::from_code(primary) else {
                continue;
            };
            if weight > 0.0 && best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, lang));
            }
        }
        best.map_or(Self::En, |(_, lang)| lang)
    }

    /// The text of `key`; "?" (and a warning in the log) when the catalog
    /// lacks it, so a missing entry shows on the page instead of failing it.
    pub fn t(self, key: &str) -> &'static str {
        let Some((en, de)) = entry(key) else {
            tracing::warn!(key, "no catalog entry");
            return "?";
        };
        match self {
            Self::En => en,
            Self::De => de,
        }
    }
}

/// The catalog: English and German for each key.
fn entry(key: &str) -> Option<(&'static str, &'static str)> {
    Some(match key {
        "app_name" => ("ToDo", "ToDo"),
        "nav_label" => ("Main", "Hauptmenü"),
        "landing_text" => (
            "Your tasks, due dates and reminders in one place, on phone and desktop.",
            "Deine Aufgaben, Termine und Erinnerungen an einem Ort, auf Handy und Computer.",
        ),
        "back_home" => ("Back to the start page", "Zurück zur Startseite"),
        "sign_in" => ("Sign in", "Anmelden"),
        "sign_up" => ("Sign up", "Registrieren"),
        "sign_out" => ("Sign out", "Abmelden"),
        "have_account" => ("Already registered? Sign in", "Schon registriert? Anmelden"),
        "display_name" => ("Name", "Name"),
        "email" => ("E-mail", "E-Mail"),
        "password" => ("Password", "Passwort"),
        "current_password" => ("Current password", "Aktuelles Passwort"),
        "new_password" => (
            "New password (at least 12 characters)",
            "Neues Passwort (mindestens 12 Zeichen)",
        ),
        "check_email_title" => ("Check your e-mail", "Sieh in deinem Postfach nach"),
        "check_email_text" => (
            "We have sent you an e-mail. Follow its link to confirm your address, then sign in.",
            "Wir haben dir eine E-Mail geschickt. Folge ihrem Link, um deine Adresse zu bestätigen, und melde dich dann an.",
        ),
        "verify_title" => ("Confirm your e-mail address", "E-Mail-Adresse bestätigen"),
        "verify_text" => (
            "Press the button to confirm your e-mail address.",
            "Drücke den Knopf, um deine E-Mail-Adresse zu bestätigen.",
        ),
        "verify_button" => ("Confirm", "Bestätigen"),
        "verified_text" => (
            "Thank you: your e-mail address is confirmed.",
            "Danke: deine E-Mail-Adresse ist bestätigt.",
        ),
        "verification_sent_text" => (
            "We have sent you a new confirmation e-mail; earlier links no longer work.",
            "Wir haben dir eine neue Bestätigungs-E-Mail geschickt; frühere Links gelten nicht mehr.",
        ),
        "forgot_title" => ("Forgot your password?", "Passwort vergessen?"),
        "forgot_text" => (
            "Enter your e-mail address and we will send you a link to choose a new password.",
            "Gib deine E-Mail-Adresse ein, und wir schicken dir einen Link, um ein neues Passwort zu wählen.",
        ),
        "forgot_button" => ("Send link", "Link senden"),
        "reset_sent_text" => (
            "If the address is registered, an e-mail with a link is on its way.",
            "Wenn die Adresse registriert ist, ist eine E-Mail mit einem Link unterwegs.",
        ),
        "reset_title" => ("Choose a new password", "Neues Passwort wählen"),
        "reset_button" => ("Save password", "Passwort speichern"),
        "reset_done_text" => (
            "Your password is changed. Sign in with the new one.",
            "Dein Passwort ist geändert. Melde dich mit dem neuen an.",
        ),
        "tasks_title" => ("Tasks", "Aufgaben"),
        "new_task" => ("New task", "Neue Aufgabe"),
        "links" => ("Links", "Links"),
        "link_pending" => ("(preview on its way)", "(Vorschau folgt)"),
        "from_url_heading" => (
            "New task from a web page",
            "Neue Aufgabe aus einer Webseite",
        ),
        "from_url_url" => ("Address of the page", "Adresse der Seite"),
        "from_url_list" => ("List", "Liste"),
        "from_url_failed" => (
            "This page could not be read, so no task was made. Check the address, or try again later.",
            "Diese Seite ließ sich nicht lesen, daher wurde keine Aufgabe angelegt. Prüfe die Adresse oder versuche es später noch einmal.",
        ),
        "edit_task" => ("Edit task", "Aufgabe bearbeiten"),
        "task_title" => ("Title", "Titel"),
        "task_description" => ("Description", "Beschreibung"),
        "task_priority" => ("Priority", "Priorität"),
        "task_due" => ("Due", "Fällig"),
        "times_in_zone" => (
            "Give a day (all day) or a date and time. Times are in your time zone:",
            "Gib einen Tag (ganztägig) oder ein Datum mit Uhrzeit an. Uhrzeiten gelten in deiner Zeitzone:",
        ),
        "task_due_date" => ("On this day (all day)", "An diesem Tag (ganztägig)"),
        "task_due_time" => (
            "Or at this date and time",
            "Oder zu diesem Datum und dieser Uhrzeit",
        ),
        "repeat" => ("Repeat", "Wiederholen"),
        "repeat_choice" => ("Repeats", "Wiederholung"),
        "repeat_none" => ("Does not repeat", "Keine Wiederholung"),
        "repeat_daily" => ("Every day", "Jeden Tag"),
        "repeat_weekdays" => (
            "Every weekday (Monday to Friday)",
            "Jeden Werktag (Montag bis Freitag)",
        ),
        "repeat_weekly" => (
            "Every week, on the days ticked below",
            "Jede Woche, an den unten angekreuzten Tagen",
        ),
        "repeat_monthly" => ("Every month on the same day", "Jeden Monat am selben Tag"),
        "repeat_monthly_last" => ("Every month on the last day", "Jeden Monat am letzten Tag"),
        "repeat_yearly" => ("Every year", "Jedes Jahr"),
        "repeat_custom" => ("Custom rule, given below", "Eigene Regel, unten angegeben"),
        "repeat_days" => (
            "Weekly on (none ticked: the due's weekday)",
            "Wöchentlich am (nichts angekreuzt: am Wochentag der Fälligkeit)",
        ),
        "repeat_rule" => (
            "Custom rule (RFC 5545 RRULE, such as FREQ=WEEKLY;INTERVAL=2;BYDAY=FR)",
            "Eigene Regel (RRULE nach RFC 5545, etwa FREQ=WEEKLY;INTERVAL=2;BYDAY=FR)",
        ),
        "repeat_count" => (
            "Ends after this many times (optional)",
            "Endet nach so vielen Malen (optional)",
        ),
        "repeat_until" => (
            "Or ends on this day (optional)",
            "Oder endet an diesem Tag (optional)",
        ),
        "wd_mo" => ("Mon", "Mo"),
        "wd_tu" => ("Tue", "Di"),
        "wd_we" => ("Wed", "Mi"),
        "wd_th" => ("Thu", "Do"),
        "wd_fr" => ("Fri", "Fr"),
        "wd_sa" => ("Sat", "Sa"),
        "wd_su" => ("Sun", "So"),
        "day_mo" => ("Monday", "Montag"),
        "day_tu" => ("Tuesday", "Dienstag"),
        "day_we" => ("Wednesday", "Mittwoch"),
        "day_th" => ("Thursday", "Donnerstag"),
        "day_fr" => ("Friday", "Freitag"),
        "day_sa" => ("Saturday", "Samstag"),
        "day_su" => ("Sunday", "Sonntag"),
        "rec_hourly" => ("every hour", "jede Stunde"),
        "rec_hourly_n" => ("every {n} hours", "alle {n} Stunden"),
        "rec_daily" => ("every day", "jeden Tag"),
        "rec_daily_n" => ("every {n} days", "alle {n} Tage"),
        "rec_weekdays" => ("every weekday", "jeden Werktag"),
        "rec_weekly" => ("every week", "jede Woche"),
        "rec_weekly_n" => ("every {n} weeks", "alle {n} Wochen"),
        "rec_weekly_on" => ("every week on {days}", "jede Woche am {days}"),
        "rec_weekly_n_on" => ("every {n} weeks on {days}", "alle {n} Wochen am {days}"),
        "rec_monthly" => ("every month", "jeden Monat"),
        "rec_monthly_n" => ("every {n} months", "alle {n} Monate"),
        "rec_monthly_last" => ("every month on the last day", "jeden Monat am letzten Tag"),
        "rec_monthly_n_last" => (
            "every {n} months on the last day",
            "alle {n} Monate am letzten Tag",
        ),
        "rec_monthly_day" => ("every month on day {day}", "jeden Monat am {day}."),
        "rec_monthly_n_day" => ("every {n} months on day {day}", "alle {n} Monate am {day}."),
        "rec_yearly" => ("every year", "jedes Jahr"),
        "rec_yearly_n" => ("every {n} years", "alle {n} Jahre"),
        "rec_count" => ("{n} times", "{n}-mal"),
        "rec_until" => ("until {date}", "bis {date}"),
        "rec_custom" => ("repeats: {rule}", "wiederholt sich: {rule}"),
        "rec_and" => (" and ", " und "),
        "reminders" => ("Reminders", "Erinnerungen"),
        "reminders_hint" => (
            "Up to 5. Fill in a row with a time before the due, or with a date and time; empty rows are ignored. Before an all-day due counts back from 09:00 that day.",
            "Bis zu 5. Fülle eine Zeile mit einer Zeit vor der Fälligkeit oder mit Datum und Uhrzeit; leere Zeilen werden ignoriert. Vor einer ganztägigen Fälligkeit wird ab 9:00 Uhr des Tages zurückgerechnet.",
        ),
        "reminder" => ("Reminder", "Erinnerung"),
        "reminder_before" => ("This long before the due", "So lange vor der Fälligkeit"),
        "reminder_unit" => ("Unit", "Einheit"),
        "reminder_at" => (
            "Or at this date and time",
            "Oder zu diesem Datum und dieser Uhrzeit",
        ),
        "unit_minutes" => ("minutes", "Minuten"),
        "unit_hours" => ("hours", "Stunden"),
        "unit_days" => ("days", "Tage"),
        "reminders_one" => ("1 reminder", "1 Erinnerung"),
        "reminders_many" => ("{n} reminders", "{n} Erinnerungen"),
        "task_due_short" => ("due", "fällig"),
        "task_labels" => (
            "Labels, separated by commas",
            "Schlagwörter, durch Kommas getrennt",
        ),
        "priority_none" => ("None", "Keine"),
        "priority_low" => ("Low", "Niedrig"),
        "priority_medium" => ("Medium", "Mittel"),
        "priority_high" => ("High", "Hoch"),
        "priority_urgent" => ("Urgent", "Dringend"),
        "filter_show" => ("Show", "Zeige"),
        "filter_open" => ("Open", "Offene"),
        "filter_done" => ("Done", "Erledigte"),
        "filter_all" => ("All", "Alle"),
        "filter_label" => ("Label", "Schlagwort"),
        "filter_due" => ("Due", "Fällig"),
        "due_any" => ("Any time", "Egal wann"),
        "due_overdue" => ("Overdue", "Überfällig"),
        "due_today" => ("Today", "Heute"),
        "due_week" => ("In the next 7 days", "In den nächsten 7 Tagen"),
        "due_none" => ("No due", "Ohne Fälligkeit"),
        "filter_apply" => ("Filter", "Filtern"),
        "no_tasks" => ("No tasks here.", "Hier sind keine Aufgaben."),
        "tick" => ("Mark as done", "Als erledigt markieren"),
        "untick" => ("Mark as not done", "Als nicht erledigt markieren"),
        "create" => ("Add", "Hinzufügen"),
        "edit" => ("Edit", "Bearbeiten"),
        "delete" => ("Delete", "Löschen"),
        "save" => ("Save", "Speichern"),
        "cancel" => ("Cancel", "Abbrechen"),
        "lists_title" => ("Lists", "Listen"),
        "new_list" => ("New list", "Neue Liste"),
        "list_name" => ("Name", "Name"),
        "list_color" => ("Colour (#rrggbb, optional)", "Farbe (#rrggbb, optional)"),
        "default_list" => ("default list", "Standardliste"),
        "members_count" => ("members", "Mitglieder"),
        "role" => ("Role", "Rolle"),
        "role_owner" => ("Owner", "Eigentümer"),
        "role_editor" => ("Editor", "Bearbeiter"),
        "role_viewer" => ("Viewer", "Betrachter"),
        "read_only" => (
            "You can read this list but not change it.",
            "Du kannst diese Liste lesen, aber nicht ändern.",
        ),
        "back_to_list" => ("Back to the list", "Zurück zur Liste"),
        "back_up" => ("Up one level", "Eine Ebene höher"),
        "subtasks" => ("Subtasks", "Unteraufgaben"),
        "new_subtask" => ("New subtask", "Neue Unteraufgabe"),
        "move_up" => ("Move up", "Nach oben"),
        "move_down" => ("Move down", "Nach unten"),
        "move_to" => ("Move to list", "In Liste verschieben"),
        "move" => ("Move", "Verschieben"),
        "sharing_title" => ("Sharing", "Teilen"),
        "members" => ("Members", "Mitglieder"),
        "you" => ("(you)", "(du)"),
        "change_role" => ("Change role", "Rolle ändern"),
        "remove" => ("Remove", "Entfernen"),
        "hand_over_hint" => (
            "Making someone the owner hands the list over to them; you stay as an editor.",
            "Wenn du jemanden zum Eigentümer machst, übergibst du ihm die Liste; du bleibst Bearbeiter.",
        ),
        "leave_list" => ("Leave list", "Liste verlassen"),
        "invite" => ("Invite", "Einladen"),
        "invite_sent" => (
            "The invitation is on its way, if the address can receive it.",
            "Die Einladung ist unterwegs, falls die Adresse sie empfangen kann.",
        ),
        "list_settings" => ("List settings", "Listeneinstellungen"),
        "delete_list" => ("Delete list", "Liste löschen"),
        "delete_list_text" => (
            "This deletes the list and all its tasks, for every member. It cannot be undone.",
            "Das löscht die Liste und alle ihre Aufgaben, für alle Mitglieder. Das lässt sich nicht rückgängig machen.",
        ),
        "invitations_title" => ("Invitations", "Einladungen"),
        "invitations_pending" => ("Pending invitations", "Offene Einladungen"),
        "invited_by" => ("Invited by", "Eingeladen von"),
        "accept" => ("Accept", "Annehmen"),
        "decline" => ("Decline", "Ablehnen"),
        "no_invitations" => ("No pending invitations.", "Keine offenen Einladungen."),
        "inbox_title" => ("Inbox", "Posteingang"),
        "unread" => ("unread", "ungelesen"),
        "mark_read" => ("Mark as read", "Als gelesen markieren"),
        "mark_all_read" => ("Mark all as read", "Alle als gelesen markieren"),
        "no_notifications" => ("No notifications.", "Keine Benachrichtigungen."),
        "settings_title" => ("Settings", "Einstellungen"),
        "profile" => ("Profile", "Profil"),
        "verified" => ("confirmed", "bestätigt"),
        "not_verified" => ("not confirmed", "nicht bestätigt"),
        "resend_verification" => (
            "Send the confirmation e-mail again",
            "Bestätigungs-E-Mail erneut senden",
        ),
        "time_zone" => ("Time zone", "Zeitzone"),
        "email_reminders" => ("Send reminders by e-mail", "Erinnerungen per E-Mail senden"),
        "daily_digest" => (
            "Send a daily e-mail of the tasks due that day or overdue",
            "Täglich eine E-Mail mit den an dem Tag fälligen und überfälligen Aufgaben senden",
        ),
        "digest_time" => ("Time of the daily e-mail", "Uhrzeit der täglichen E-Mail"),
        "change_password" => ("Change password", "Passwort ändern"),
        "delete_account" => ("Delete account", "Konto löschen"),
        "delete_account_text" => (
            "This erases your account, your tasks and your notifications. Enter your password to confirm.",
            "Das löscht dein Konto, deine Aufgaben und deine Benachrichtigungen. Gib zur Bestätigung dein Passwort ein.",
        ),
        "account_deleted_text" => ("Your account is deleted.", "Dein Konto ist gelöscht."),
        "error_title" => ("Something went wrong", "Etwas ist schiefgegangen"),
        "forbidden_title" => ("Not allowed", "Nicht erlaubt"),
        "err_csrf" => (
            "This form has expired. Go back, reload the page and try again.",
            "Dieses Formular ist abgelaufen. Geh zurück, lade die Seite neu und versuche es noch einmal.",
        ),
        "err_invalid" => ("Please check your input.", "Bitte prüfe deine Eingaben."),
        "err_credentials" => (
            "E-mail or password is wrong.",
            "E-Mail oder Passwort ist falsch.",
        ),
        "err_password" => ("The password is wrong.", "Das Passwort ist falsch."),
        "err_forbidden" => ("You may not do that.", "Das darfst du nicht."),
        "err_not_found" => ("Not found.", "Nicht gefunden."),
        "err_throttled" => (
            "Too many attempts. Please wait a little and try again.",
            "Zu viele Versuche. Bitte warte etwas und versuche es dann noch einmal.",
        ),
        "err_conflict" => (
            "Someone changed this at the same time. Please try again.",
            "Jemand hat das gleichzeitig geändert. Bitte versuche es noch einmal.",
        ),
        "err_unavailable" => (
            "The service is not available right now. Please try again later.",
            "Der Dienst ist gerade nicht erreichbar. Bitte versuche es später noch einmal.",
        ),
        "err_internal" => (
            "Something went wrong on our side. Please try again later.",
            "Bei uns ist etwas schiefgegangen. Bitte versuche es später noch einmal.",
        ),
        "err_link" => (
            "This link is invalid or has expired.",
            "Dieser Link ist ungültig oder abgelaufen.",
        ),
        "err_priority" => (
            "Choose one of the priorities.",
            "Wähle eine der Prioritäten.",
        ),
        "err_due" => (
            "Enter a date and time.",
            "Gib ein Datum und eine Uhrzeit ein.",
        ),
        "err_date" => ("Enter a date.", "Gib ein Datum ein."),
        "err_due_both" => (
            "Give a day or a date and time, not both.",
            "Gib einen Tag oder ein Datum mit Uhrzeit an, nicht beides.",
        ),
        "err_repeat" => (
            "Choose one of the repeats.",
            "Wähle eine der Wiederholungen.",
        ),
        "err_rule_empty" => (
            "Enter a rule, or choose another repeat.",
            "Gib eine Regel ein oder wähle eine andere Wiederholung.",
        ),
        "err_count" => (
            "Enter a whole number from 1.",
            "Gib eine ganze Zahl ab 1 ein.",
        ),
        "err_count_or_until" => (
            "End after a number of times or on a day, not both.",
            "Beende nach einer Anzahl oder an einem Tag, nicht beides.",
        ),
        "err_reminder_amount" => (
            "Enter a whole number of minutes, hours or days.",
            "Gib eine ganze Zahl von Minuten, Stunden oder Tagen ein.",
        ),
        "err_reminder_both" => (
            "Give a time before the due or a date and time, not both.",
            "Gib eine Zeit vor der Fälligkeit oder ein Datum mit Uhrzeit an, nicht beides.",
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{DUE_FILTERS, REPEATS, UNITS, WEEKDAYS};

    #[test]
    fn the_task_forms_choices_are_in_the_catalog() {
        let keys = REPEATS
            .iter()
            .chain(&DUE_FILTERS)
            .map(|(_, key)| *key)
            .chain(WEEKDAYS.iter().flat_map(|(_, short, long)| [*short, *long]))
            .chain(UNITS.iter().map(|(_, key, _)| *key));
        for key in keys {
            assert!(entry(key).is_some(), "{key}");
        }
    }

    #[test]
    fn accept_language_picks_the_heaviest_supported_language() {
        assert_eq!(
            Lang::from_accept_language("de-DE,de;q=0.9,en;q=0.8"),
            Lang::De
        );
        assert_eq!(
            Lang::from_accept_language("fr, en;q=0.5, de;q=0.7"),
            Lang::De
        );
        assert_eq!(Lang::from_accept_language("fr"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
    }
}
