//! Building and sending e-mails: templates with a plain-text and an HTML
//! part, sent over SMTP with lettre, or written as `.eml` files when no
//! SMTP server is configured.

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use todo_proto::todo::notify::v1::EmailTemplate;

use crate::config::MailConfig;
use crate::invitation::Invitation;

/// One queued e-mail, as much as a template needs.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub template: EmailTemplate,
    pub to_email: String,
    pub display_name: String,
    pub token: Option<String>,
    /// The task a reminder is about.
    pub task_title: Option<String>,
    /// What an invitation is to.
    pub invitation: Option<Invitation>,
}

/// Why a send failed, which decides whether it is tried again.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server refused for good (5xx) or the message cannot be built:
    /// retrying would fail the same way.
    #[error("permanent: {0}")]
    Permanent(String),
    /// Connection refused, timeout, 4xx: worth another try later.
    #[error("temporary: {0}")]
    Temporary(String),
}

/// Where e-mails go.
#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Smtp(_) => "Transport::Smtp",
            Self::Files(_) => "Transport::Files",
        })
    }
}

/// Sends with the configured transport.
#[derive(Clone, Debug)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    link_base_url: String,
}

impl Mailer {
    /// # Errors
    /// When the SMTP URL or sender address is invalid, or the mail folder
    /// cannot be made.
    pub fn new(config: &MailConfig) -> anyhow::Result<Self> {
        let transport = match &config.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("TODO_SMTP_URL is not a valid SMTP URL")?
                    .timeout(Some(std::time::Duration::from_secs(20)))
                    // A pooled connection for every send in flight of the
                    // default two workers (see `queue::SENDS_IN_FLIGHT`).
                    .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(64))
                    .build(),
            ),
            None => {
                std::fs::create_dir_all(&config.dir).with_context(|| {
                    format!("cannot create mail folder {}", config.dir.display())
                })?;
                tracing::info!(dir = %config.dir.display(), "no SMTP configured; e-mails are written as .eml files");
                Transport::Files(AsyncFileTransport::<Tokio1Executor>::new(&config.dir))
            }
        };
        let from = config
            .from
            .parse()
            .context("TODO_MAIL_FROM is not a valid mailbox")?;
        Ok(Self {
            transport,
            from,
            link_base_url: config.link_base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// Builds and sends one e-mail.
    ///
    /// # Errors
    /// [`SendError::Temporary`] or [`SendError::Permanent`], by cause.
    pub async fn send(&self, mail: &Outgoing) -> Result<(), SendError> {
        let message = self
            .build(mail)
            .map_err(|e| SendError::Permanent(format!("{e:#}")))?;
        match &self.transport {
            Transport::Smtp(t) => t.send(message).await.map(drop).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Temporary(e.to_string())
                }
            }),
            Transport::Files(t) => t
                .send(message)
                .await
                .map(drop)
                .map_err(|e| SendError::Temporary(e.to_string())),
        }
    }

    fn build(&self, mail: &Outgoing) -> anyhow::Result<Message> {
        // An invitation to an address without an account has no name.
        let name = Some(mail.display_name.clone()).filter(|n| !n.is_empty());
        let to = Mailbox::new(name, mail.to_email.parse().context("recipient address")?);
        let (subject, text, html) = self.render(mail)?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(None)
            .date_now()
            .multipart(MultiPart::alternative_plain_html(text, html))
            .context("build message")
    }

    /// Subject, plain text and HTML of a message.
    fn render(&self, mail: &Outgoing) -> anyhow::Result<(String, String, String)> {
        let content = self.content(mail)?;
        let (text, html) = content.layout(&mail.display_name);
        Ok((content.subject, text, html))
    }

    /// What a template says to this recipient.
    fn content(&self, mail: &Outgoing) -> anyhow::Result<Content> {
        let token = mail.token.as_deref().unwrap_or_default();
        let base = &self.link_base_url;
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
            EmailTemplate::Unspecified => anyhow::bail!("e-mail without a template"),
        })
    }
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

/// What one e-mail says, before it is laid out as plain text and HTML.
#[derive(Debug)]
struct Content {
    subject: String,
    intro: String,
    /// On a line of its own.
    link: Option<String>,
    /// The token of the link, once more on a line of its own: it survives
    /// any transfer encoding intact, for a client that takes it by hand.
    code: Option<String>,
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
            after: Vec::new(),
        }
    }

    /// Plain text and HTML, greeting `name` (or no one, for an address
    /// without an account).
    fn layout(&self, name: &str) -> (String, String) {
        let greeting = if name.is_empty() {
            "Hello,".to_owned()
        } else {
            format!("Hello {name},")
        };
        let mut text = vec![greeting.clone(), self.intro.clone()];
        let mut html = vec![escape_html(&greeting), escape_html(&self.intro)];
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
        let html: String = html.iter().map(|p| format!("<p>{p}</p>")).collect();
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
    use crate::invitation::Role;

    /// A mailer that sends nothing in these tests. Call it on a runtime:
    /// the SMTP transport's pool starts on one.
    fn mailer() -> Mailer {
        Mailer::new(&MailConfig {
            smtp_url: Some("smtp://127.0.0.1:25".into()),
            dir: std::path::PathBuf::new(),
            from: "ToDo <no-reply@todo.test>".into(),
            link_base_url: "https://todo.test/".into(),
        })
        .unwrap()
    }

    fn invitation_to(display_name: &str) -> Outgoing {
        Outgoing {
            template: EmailTemplate::Invitation,
            to_email: "grace@example.com".into(),
            display_name: display_name.into(),
            token: None,
            task_title: None,
            invitation: Some(Invitation {
                list_title: "Groceries & <more>".into(),
                inviter_name: "Ada".into(),
                role: Role::Editor,
            }),
        }
    }

    #[tokio::test]
    async fn a_link_token_also_stands_on_a_line_of_its_own() {
        let mailer = mailer();
        let (_, text, html) = mailer
            .render(&Outgoing {
                template: EmailTemplate::Welcome,
                to_email: "ada@example.com".into(),
                display_name: "Ada".into(),
                token: Some("abc_DEF-123".into()),
                task_title: None,
                invitation: None,
            })
            .unwrap();
        assert!(text.contains("\nhttps://todo.test/verify-email?token=abc_DEF-123\n"));
        assert!(text.lines().any(|line| line == "abc_DEF-123"), "{text}");
        assert!(html.contains("href=\"https://todo.test/verify-email?token=abc_DEF-123\""));
    }

    #[tokio::test]
    async fn an_invitation_to_an_address_without_an_account_says_how_to_accept_it() {
        let mailer = mailer();
        let (subject, text, html) = mailer.render(&invitation_to("")).unwrap();
        assert_eq!(subject, "Ada invited you to a ToDo list");
        assert!(text.starts_with("Hello,\n\n"), "{text}");
        assert!(
            text.contains(
                "Ada invited you to the list \u{201c}Groceries & <more>\u{201d} as editor. To accept it, sign in to ToDo and open Invitations:"
            ),
            "{text}"
        );
        assert!(
            text.contains("\n\nhttps://todo.test/invitations\n\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "No ToDo account yet? Sign up with this very e-mail address and confirm it"
            ),
            "{text}"
        );
        // Nothing to type in: the invitation waits for whoever proves the
        // address.
        assert!(!text.contains("enter this code"), "{text}");
        assert!(html.contains("<p>Hello,</p>"), "{html}");
        assert!(
            html.contains("\u{201c}Groceries &amp; &lt;more&gt;\u{201d}"),
            "{html}"
        );
        assert!(
            html.contains("href=\"https://todo.test/invitations\""),
            "{html}"
        );
        // Without a name, the recipient is the bare address.
        let message = mailer.build(&invitation_to("")).unwrap().formatted();
        let message = String::from_utf8_lossy(&message);
        assert!(message.contains("To: grace@example.com\r\n"), "{message}");
    }

    #[tokio::test]
    async fn an_invitation_to_an_account_greets_it_by_name() {
        let (_, text, _) = mailer().render(&invitation_to("Grace")).unwrap();
        assert!(
            text.starts_with("Hello Grace,\n\nAda invited you"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn an_invitation_e_mail_without_its_invitation_is_not_sent() {
        let mail = Outgoing {
            invitation: None,
            ..invitation_to("Grace")
        };
        assert!(mailer().render(&mail).is_err());
    }

    #[test]
    fn display_names_cannot_inject_html() {
        assert_eq!(
            escape_html("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
