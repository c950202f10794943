//! Building and sending e-mails: templates with a plain-text and an HTML
//! part, sent over SMTP with lettre, or written as `.eml` files when no
//! SMTP server is configured.

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use todo_proto::todo::notify::v1::EmailTemplate;

use crate::config::MailConfig;

/// One queued e-mail, as much as a template needs.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub template: EmailTemplate,
    pub to_email: String,
    pub display_name: String,
    pub token: Option<String>,
    /// The task a reminder is about.
    pub task_title: Option<String>,
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
        let to = Mailbox::new(
            Some(mail.display_name.clone()),
            mail.to_email.parse().context("recipient address")?,
        );
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
        let name = &mail.display_name;
        let token = mail.token.as_deref().unwrap_or_default();
        let reminder_intro;
        let reminder_subject;
        let (subject, intro, link) = match mail.template {
            EmailTemplate::Reminder => {
                let title = mail.task_title.as_deref().unwrap_or("a task");
                reminder_subject = format!("Reminder: {title}");
                reminder_intro = format!("this is your reminder for the task \"{title}\".");
                (reminder_subject.as_str(), reminder_intro.as_str(), None)
            }
            EmailTemplate::Welcome => (
                "Welcome to ToDo: please confirm your e-mail address",
                "welcome to ToDo! Please confirm your e-mail address with this link:",
                Some(format!("{}/verify-email?token={token}", self.link_base_url)),
            ),
            EmailTemplate::PasswordReset => (
                "Reset your ToDo password",
                "someone asked to reset the password of your ToDo account. If it was you, use this link within 30 minutes; if not, ignore this e-mail:",
                Some(format!(
                    "{}/reset-password?token={token}",
                    self.link_base_url
                )),
            ),
            EmailTemplate::VerifyEmail => (
                "Please confirm your e-mail address for ToDo",
                "please confirm that this is the e-mail address of your ToDo account with this link. Links sent before this one no longer work:",
                Some(format!("{}/verify-email?token={token}", self.link_base_url)),
            ),
            EmailTemplate::EmailChangeAlert => (
                "Your ToDo account's e-mail address is being changed",
                "someone signed in to your ToDo account asked to change its e-mail address. The change takes effect only when the new address is confirmed. If this was not you, change your password at once.",
                None,
            ),
            EmailTemplate::SignupAttempt => (
                "Someone tried to sign up for ToDo with your address",
                "someone just tried to create a ToDo account with this e-mail address, which already has one. Nothing was changed. If it was you, sign in instead, or reset your password if you forgot it; if not, you can ignore this e-mail.",
                None,
            ),
            EmailTemplate::SecurityAlert => (
                "Your ToDo account's password was changed",
                "the password of your ToDo account was just changed. If this was not you, reset your password at once.",
                None,
            ),
            EmailTemplate::Unspecified => anyhow::bail!("e-mail without a template"),
        };
        let text = match &link {
            // The code on a line of its own survives any transfer encoding
            // intact, for a client that takes it by hand.
            Some(l) => format!(
                "Hello {name},\n\n{intro}\n\n{l}\n\nOr enter this code where you are asked for it:\n\n{token}\n\nThe ToDo team\n"
            ),
            None => format!("Hello {name},\n\n{intro}\n\nThe ToDo team\n"),
        };
        let link_html = link
            .as_ref()
            .map(|l| format!("<p><a href=\"{0}\">{0}</a></p>", escape_html(l)))
            .unwrap_or_default();
        let html = format!(
            "<!doctype html><html><body><p>Hello {},</p><p>{}</p>{link_html}<p>The ToDo team</p></body></html>",
            escape_html(name),
            escape_html(intro)
        );
        Ok((subject.to_owned(), text, html))
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

    // A runtime, because the SMTP transport's pool starts on one.
    #[tokio::test]
    async fn a_link_token_also_stands_on_a_line_of_its_own() {
        let mailer = Mailer::new(&MailConfig {
            smtp_url: Some("smtp://127.0.0.1:25".into()),
            dir: std::path::PathBuf::new(),
            from: "ToDo <no-reply@todo.test>".into(),
            link_base_url: "https://todo.test".into(),
        })
        .unwrap();
        let (_, text, html) = mailer
            .render(&Outgoing {
                template: EmailTemplate::Welcome,
                to_email: "ada@example.com".into(),
                display_name: "Ada".into(),
                token: Some("abc_DEF-123".into()),
                task_title: None,
            })
            .unwrap();
        assert!(text.contains("\nhttps://todo.test/verify-email?token=abc_DEF-123\n"));
        assert!(text.lines().any(|line| line == "abc_DEF-123"), "{text}");
        assert!(html.contains("href=\"https://todo.test/verify-email?token=abc_DEF-123\""));
    }

    #[test]
    fn display_names_cannot_inject_html() {
        assert_eq!(
            escape_html("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
