//! Building and sending e-mails: a message with a plain-text and an HTML
//! part (worded in `content`), sent over SMTP with lettre, or written as
//! `.eml` files when no SMTP server is configured.

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailConfig;
use crate::domain::Outgoing;

mod content;

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
                    // default two workers (see `workers::emails::SENDS_IN_FLIGHT`).
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
        let content = content::of(mail, &self.link_base_url)?;
        let (text, html) = content.layout(&mail.display_name);
        Ok((content.subject, text, html))
    }
}

#[cfg(test)]
mod tests {
    use todo_proto::todo::notify::v1::EmailTemplate;

    use super::*;
    use crate::domain::Invitation;
    use crate::domain::invitation::Role;

    /// A mailer that sends nothing in these tests. Call it on a runtime:
    /// the SMTP transport's pool starts on one.
    fn mailer() -> Mailer {
        Mailer::new(&MailConfig {
            smtp_url: Some("smtp://127.0.0.1:25".into()),
            from: "ToDo <no-reply@todo.test>".into(),
            link_base_url: "https://todo.test/".into(),
            ..MailConfig::default()
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
            digest: None,
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
                digest: None,
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

    #[tokio::test]
    async fn a_digest_lists_its_tasks_as_text_and_html() {
        let mail = Outgoing {
            template: EmailTemplate::Digest,
            to_email: "ada@example.com".into(),
            display_name: "Ada".into(),
            token: None,
            task_title: None,
            invitation: None,
            digest: Some(crate::domain::Digest {
                date: "2030-01-15".into(),
                lines: vec![
                    "Pay <rent> (due 2030-01-14)".into(),
                    "Call Bob (due 2030-01-15 09:00)".into(),
                ],
                more: 3,
            }),
        };
        let (subject, text, html) = mailer().render(&mail).unwrap();
        assert_eq!(subject, "Your ToDo tasks for 2030-01-15");
        assert!(
            text.contains(
                "\n\n- Pay <rent> (due 2030-01-14)\n- Call Bob (due 2030-01-15 09:00)\n\nand 3 more\n\n"
            ),
            "{text}"
        );
        assert!(
            html.contains("<ul><li>Pay &lt;rent&gt; (due 2030-01-14)</li><li>Call Bob"),
            "{html}"
        );
        assert!(html.contains("<p>and 3 more</p>"), "{html}");
        let bare = Outgoing {
            digest: None,
            ..mail
        };
        assert!(mailer().render(&bare).is_err());
    }
}
