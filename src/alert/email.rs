//! Email through SMTP (lettre), one message to all of a channel's recipients.
//!
//! `lettre::Message::builder()` adds the `Date` header and encodes non-ASCII
//! subjects and bodies (RFC 2047 encoded-words, quoted-printable/base64).
//! The Message-ID is derived from the alert id so that the rare duplicate (a
//! crash between the server's 250 and our record of it) can be recognised
//! by the mail client as the same message.

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::channel::{ChannelId, SendError};
use super::{Alert, render};
use crate::config::{EmailChannel, SmtpTls};

#[derive(Debug, Clone)]
pub struct EmailSender {
    id: ChannelId,
    cfg: EmailChannel,
}

impl EmailSender {
    pub fn new(cfg: EmailChannel) -> Self {
        Self {
            id: ChannelId::for_email(&cfg),
            cfg,
        }
    }

    pub fn id(&self) -> &ChannelId {
        &self.id
    }

    pub(crate) fn set_id(&mut self, id: ChannelId) {
        self.id = id;
    }

    pub fn config(&self) -> &EmailChannel {
        &self.cfg
    }

    /// The message for `alert`, exactly as it is sent.
    pub fn message(&self, alert: &Alert) -> Result<Message, SendError> {
        let domain = self.cfg.from.email.domain();
        let mut builder = Message::builder()
            .from(self.cfg.from.clone())
            .subject(render::subject(alert))
            .message_id(Some(format!("<certvigil.{}@{domain}>", alert.id)))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.cfg.to {
            builder = builder.to(to.clone());
        }
        builder
            .body(render::body(alert))
            .map_err(|e| SendError::Message {
                channel: self.id.clone(),
                detail: e.to_string(),
            })
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
        crate::tls::ensure_crypto_provider();
        let smtp_err = |e: lettre::transport::smtp::Error| SendError::Smtp {
            channel: self.id.clone(),
            detail: e.to_string(),
        };
        let server = self.cfg.server.as_str();
        let builder = match self.cfg.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server),
            // STARTTLS is required, never opportunistic: a server (or a man
            // in the middle) that does not offer it gets no password and no mail.
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(server).map_err(smtp_err)?
            }
            SmtpTls::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(server).map_err(smtp_err)?
            }
        };
        let mut builder = builder.port(self.cfg.port).timeout(Some(self.cfg.timeout));
        if let (Some(user), Some(source)) = (&self.cfg.username, &self.cfg.password) {
            // Read at each send, so a rotated password needs no reload.
            let password = source.read().map_err(|source| SendError::Secret {
                channel: self.id.clone(),
                source,
            })?;
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        Ok(builder.build())
    }

    /// Sends once, within the channel's `timeout`. lettre's own timeout
    /// bounds the connect but not its async reads: a server that sends
    /// `220` and then nothing kept a delivery (and the daemon's shutdown)
    /// waiting forever. The deadline here covers the whole conversation
    /// (connect, greeting, each reply, the data); past it the connection
    /// is dropped and the alert is retried like any failure.
    pub async fn send(&self, alert: &Alert) -> Result<(), SendError> {
        let message = self.message(alert)?;
        let transport = self.transport()?;
        match tokio::time::timeout(self.cfg.timeout, transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(SendError::Smtp {
                channel: self.id.clone(),
                detail: describe(&e),
            }),
            Err(_) => Err(SendError::Smtp {
                channel: self.id.clone(),
                detail: format!(
                    "the server did not finish the conversation within {} (it stopped answering)",
                    humantime::format_duration(self.cfg.timeout)
                ),
            }),
        }
    }
}

/// lettre's errors name the failure but hide the cause chain; both matter
/// ("Connection error: Connection refused").
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
