//! What each template says, and how a message is laid out as plain text
//! and HTML.

use anyhow::Context;
use todo_proto::todo::notify::v1::EmailTemplate;

use crate::domain::{Digest, Invitation, Outgoing};

/// What `mail`'s template says to its recipient, its links starting at
/// `base`.
///
/// # Errors
/// When the template is unspecified, or an invitation lacks its
/// invitation or a digest its list.
pub fn of(mail: &Outgoing, base: &str) -> anyhow::Result<Content> {
    let token = mail.token.as_deref().unwrap_or_default();
    let with_token = |subject: &str, intro: &str, path: &str| Content {
        link: Some(format!("{base}{path}{token}")),
        code: Some(token.to_owned()),
        ..Content::notice(subject, intro)
    };
    Ok(match mail.template {
        EmailTemplate::Reminder => {
            let title = mail.task_title.as_deref().unwrap_or("a task");
            Content::notice(
                &format!("Reminder: {title}"),
                &format!("this is your reminder for the task \"{title}\"."),
            )
        }
        EmailTemplate::Welcome => with_token(
            "Welcome to ToDo: please confirm your e-mail address",
            "welcome to ToDo! Please confirm your e-mail address with this link:",
            "/verify-email?token=",
        ),
        EmailTemplate::PasswordReset => with_token(
            "Reset your ToDo password",
            "someone asked to reset the password of your ToDo account. If it was you, use this link within 30 minutes; if not, ignore this e-mail:",
            "/reset-password?token=",
        ),
        EmailTemplate::VerifyEmail => with_token(
            "Please confirm your e-mail address for ToDo",
            "please confirm that this is the e-mail address of your ToDo account with this link. Links sent before this one no longer work:",
            "/verify-email?token=",
        ),
        EmailTemplate::EmailChangeAlert => Content::notice(
            "Your ToDo account's e-mail address is being changed",
            "someone signed in to your ToDo account asked to change its e-mail address. The change takes effect only when the new address is confirmed. If this was not you, change your password at once.",
        ),
        EmailTemplate::SignupAttempt => Content::notice(
            "Someone tried to sign up for ToDo with your address",
            "someone just tried to create a ToDo account with this e-mail address, which already has one. Nothing was changed. If it was you, sign in instead, or reset your password if you forgot it; if not, you can ignore this e-mail.",
        ),
        EmailTemplate::SecurityAlert => Content::notice(
            "Your ToDo account's password was changed",
            "the password of your ToDo account was just changed. If this was not you, reset your password at once.",
        ),
        EmailTemplate::Invitation => {
            let invitation = mail
                .invitation
                .as_ref()
                .context("invitation e-mail without its invitation")?;
            invitation_content(invitation, base)
        }
        EmailTemplate::Digest => {
            let digest = mail
                .digest
                .as_ref()
                .context("digest e-mail without its tasks")?;
            digest_content(digest)
        }
        EmailTemplate::Unspecified => anyhow::bail!("e-mail without a template"),
    })
}

/// An invitation to a shared list. It may reach an address without an
/// account, so it says how to get one; the invitation waits for whoever
/// proves the address, so it carries no token.
fn invitation_content(invitation: &Invitation, base: &str) -> Content {
    let Invitation {
        list_title,
        inviter_name,
        role,
    } = invitation;
    Content {
        link: Some(format!("{base}/invitations")),
        after: vec![
            "No ToDo account yet? Sign up with this very e-mail address and confirm it with the link we send you; the invitation then waits for you under Invitations.".to_owned(),
        ],
        ..Content::notice(
            &format!("{inviter_name} invited you to a ToDo list"),
            &format!(
                "{inviter_name} invited you to the list \u{201c}{list_title}\u{201d} as {}. To accept it, sign in to ToDo and open Invitations:",
                role.as_str()
            ),
        )
    }
}

/// The daily digest: the tasks due that day or overdue, as a list.
fn digest_content(digest: &Digest) -> Content {
    Content {
        items: digest.lines.clone(),
        after: digest.more_line().into_iter().collect(),
        ..Content::notice(
            &format!("Your ToDo tasks for {}", digest.date),
            "these tasks of yours are due today or overdue:",
        )
    }
}

/// What one e-mail says, before it is laid out as plain text and HTML.
#[derive(Debug)]
pub struct Content {
    pub subject: String,
    intro: String,
    /// On a line of its own.
    link: Option<String>,
    /// The token of the link, once more on a line of its own: it survives
    /// any transfer encoding intact, for a client that takes it by hand.
    code: Option<String>,
    /// A list after the introduction.
    items: Vec<String>,
    /// Paragraphs after the link.
    after: Vec<String>,
}

impl Content {
    /// A message of one paragraph.
    fn notice(subject: &str, intro: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            intro: intro.to_owned(),
            link: None,
            code: None,
            items: Vec::new(),
            after: Vec::new(),
        }
    }

    /// Plain text and HTML, greeting `name` (or no one, for an address
    /// without an account).
    pub fn layout(&self, name: &str) -> (String, String) {
        let greeting = if name.is_empty() {
            "Hello,".to_owned()
        } else {
            format!("Hello {name},")
        };
        let mut text = vec![greeting.clone(), self.intro.clone()];
        let mut html = vec![escape_html(&greeting), escape_html(&self.intro)];
        if !self.items.is_empty() {
            let lines: Vec<String> = self.items.iter().map(|i| format!("- {i}")).collect();
            text.push(lines.join("\n"));
        }
        if let Some(link) = &self.link {
            text.push(link.clone());
            html.push(format!("<a href=\"{0}\">{0}</a>", escape_html(link)));
        }
        if let Some(code) = &self.code {
            text.push("Or enter this code where you are asked for it:".to_owned());
            text.push(code.clone());
        }
        text.extend(self.after.iter().cloned());
        html.extend(self.after.iter().map(|p| escape_html(p)));
        text.push("The ToDo team".to_owned());
        html.push("The ToDo team".to_owned());
        let mut html: Vec<String> = html.iter().map(|p| format!("<p>{p}</p>")).collect();
        if !self.items.is_empty() {
            let items: String = self
                .items
                .iter()
                .map(|i| format!("<li>{}</li>", escape_html(i)))
                .collect();
            // After the greeting and the introduction.
            html.insert(2, format!("<ul>{items}</ul>"));
        }
        let html: String = html.concat();
        (
            format!("{}\n", text.join("\n\n")),
            format!("<!doctype html><html><body>{html}</body></html>"),
        )
    }
}

/// Escapes text for HTML element content and attribute values.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_cannot_inject_html() {
        assert_eq!(
            escape_html("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
