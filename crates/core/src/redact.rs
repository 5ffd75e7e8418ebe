//! What of a URL or a peer's text may be shown: in logs, errors, JSON
//! output and stored rows. One place, so every display agrees.
//!
//! - [`url`]: credentials in the userinfo become `[redacted]`
//!   (`https://u:[redacted]@agent/`), and so do the values of query
//!   parameters whose name says they are secret (`?key=[redacted]`, as in
//!   WeCom, DingTalk and Feishu robot URLs).
//! - [`peer_text`]: an excerpt of what a peer sent (a webhook's error body,
//!   an agent's or an API's refusal), cut short, with the query strings of
//!   any URL in it dropped, `token=...`/`"token": "..."` values replaced and
//!   control characters escaped. DingTalk echoes the request URL, with its
//!   `access_token`, in some error bodies.

use url::Url;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// How much of a peer's text an error keeps, in characters.
pub const PEER_EXCERPT_CHARS: usize = 200;

/// Whether a parameter or field name says its value is a credential.
pub fn is_secret_name(name: &str) -> bool {
    const WORDS: [&str; 13] = [
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "key",
        "sign",
        "auth",
        "session",
        "ticket",
        "credential",
        "cookie",
        "sig",
    ];
    let lower = name.to_ascii_lowercase();
    WORDS.iter().any(|w| lower.contains(w))
}

/// `url` for display: userinfo and secret query values redacted. A user
/// name alone (`https://TOKEN@host/`) may itself be the credential, so it
/// is redacted too; next to a password it is kept, to say which account.
pub fn url(url: &Url) -> String {
    let mut shown = url.clone();
    let user = url.username().to_string();
    let had_password = url.password().is_some();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let mut q = String::new();
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                q.push('&');
            }
            q.push_str(&encode_component(k));
            q.push('=');
            if is_secret_name(k) {
                q.push_str(REDACTED);
            } else {
                q.push_str(&encode_component(v));
            }
        }
        shown.set_query(None);
        let text = shown.to_string();
        // Brackets would be percent-encoded by `set_query`; written by hand
        // so `[redacted]` reads as such. The fragment, if any, is dropped.
        let base = text.split('#').next().unwrap_or(&text).to_string();
        return with_userinfo(&base, url, &user, had_password) + "?" + &q;
    }
    let text = shown.to_string();
    with_userinfo(&text, url, &user, had_password)
}

/// Puts `user:[redacted]@` (or `[redacted]@`) back after `scheme://`.
fn with_userinfo(text: &str, original: &Url, user: &str, had_password: bool) -> String {
    let info = match (user.is_empty(), had_password) {
        (true, false) => return text.to_string(),
        (false, true) => format!("{user}:{REDACTED}@"),
        (true, true) => format!(":{REDACTED}@"),
        (false, false) => format!("{REDACTED}@"),
    };
    let prefix = format!("{}://", original.scheme());
    match text.strip_prefix(&prefix) {
        Some(rest) => format!("{prefix}{info}{rest}"),
        None => text.to_string(),
    }
}

fn encode_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An excerpt of a peer's text that is safe to keep: URLs lose their
/// query strings and userinfo, secret-named values are replaced, control
/// characters are escaped, and at most `max_chars` characters remain
/// (marked `…` when cut). Empty text reads `(empty)`.
pub fn peer_text(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    if text.is_empty() {
        return "(empty)".into();
    }
    let scrubbed = scrub_named_values(&scrub_urls(text));
    let mut out = String::new();
    let mut count = 0;
    for c in scrubbed.chars() {
        let piece: String = if c.is_control() {
            c.escape_default().collect()
        } else {
            c.to_string()
        };
        count += piece.chars().count();
        if count > max_chars {
            out.push('…');
            return out;
        }
        out.push_str(&piece);
    }
    out
}

/// `text` with every control character (ESC, CR, LF, DEL, C1, ...) written
/// as an escape (`\u{1b}`, `\n`): for data from DNS, names and peers on its
/// way into any text output (terminal, history, status, mail), so no record
/// can colour a terminal or forge a line. The one escaping function; every
/// text output of outside data uses it.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// [`peer_text`] of bytes (lossy UTF-8), at the usual length.
pub fn peer_bytes(bytes: &[u8]) -> String {
    peer_text(&String::from_utf8_lossy(bytes), PEER_EXCERPT_CHARS)
}

/// Ends a URL inside free text.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}' | ',')
}

/// Every `http://`/`https://` URL in `text` without userinfo and with its
/// query replaced by `?[redacted]`.
fn scrub_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let lower = rest.to_ascii_lowercase();
        let at = match (lower.find("http://"), lower.find("https://")) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => {
                out.push_str(rest);
                return out;
            }
        };
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail.find(ends_url).unwrap_or(tail.len());
        let token = &tail[..end];
        let scheme_end = token.find("://").map(|i| i + 3).unwrap_or(0);
        let (scheme, after) = token.split_at(scheme_end);
        let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, path) = after.split_at(authority_end);
        let host = match authority.rfind('@') {
            Some(i) => {
                out.push_str(scheme);
                out.push_str(REDACTED);
                out.push('@');
                &authority[i + 1..]
            }
            None => {
                out.push_str(scheme);
                authority
            }
        };
        out.push_str(host);
        match path.find(['?', '#']) {
            Some(q) => {
                out.push_str(&path[..q]);
                if path[q..].starts_with('?') {
                    out.push('?');
                    out.push_str(REDACTED);
                }
            }
            None => out.push_str(path),
        }
        rest = &tail[end..];
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Replaces the values of `name=value`, `name: value` and
/// `"name": "value"` when `name` is secret-named.
fn scrub_named_values(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0; // bytes of `text` already in `out`
    let mut i = 0;
    while i < bytes.len() {
        if !is_name_byte(bytes[i]) || (i > 0 && is_name_byte(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_name_byte(bytes[i]) {
            i += 1;
        }
        let name = &text[start..i];
        if !is_secret_name(name) {
            continue;
        }
        let mut j = i;
        if j < bytes.len() && matches!(bytes[j], b'"' | b'\'') {
            j += 1;
        }
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        if j >= bytes.len() || !matches!(bytes[j], b'=' | b':') {
            continue;
        }
        j += 1;
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        let quote = (j < bytes.len() && matches!(bytes[j], b'"' | b'\'')).then(|| bytes[j]);
        if quote.is_some() {
            j += 1;
        }
        let value_start = j;
        let mut value_end = j;
        match quote {
            Some(q) => {
                while value_end < bytes.len() && bytes[value_end] != q {
                    // An escaped quote inside a JSON string.
                    if bytes[value_end] == b'\\' {
                        value_end += 1;
                    }
                    value_end += 1;
                }
                value_end = value_end.min(bytes.len());
            }
            None => {
                let delimiter = |b: u8| b.is_ascii_whitespace() || b"&\"',;}<>)]".contains(&b);
                while value_end < bytes.len() && !delimiter(bytes[value_end]) {
                    value_end += 1;
                }
                // "Authorization: Bearer xyz": the scheme word is not the secret.
                let word = &text[value_start..value_end];
                if ["bearer", "basic", "token"].contains(&word.to_ascii_lowercase().as_str())
                    && value_end < bytes.len()
                    && bytes[value_end] == b' '
                {
                    value_end += 1;
                    while value_end < bytes.len() && !delimiter(bytes[value_end]) {
                        value_end += 1;
                    }
                }
            }
        }
        if value_end > value_start {
            out.push_str(&text[copied..value_start]);
            out.push_str(REDACTED);
            copied = value_end;
        }
        i = value_end.max(i);
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_redacted_and_the_user_kept() {
        let u = Url::parse("https://u:PASS@agent.example:8443/probe").unwrap();
        assert_eq!(url(&u), "https://u:[redacted]@agent.example:8443/probe");
        let u = Url::parse("socks5://TOKENONLY@proxy:1080").unwrap();
        assert_eq!(url(&u), "socks5://[redacted]@proxy:1080");
        let u = Url::parse("https://agent.example/").unwrap();
        assert_eq!(url(&u), "https://agent.example/");
    }

    #[test]
    fn secret_query_values_are_redacted_in_urls() {
        let u = Url::parse(
            "https://oapi.dingtalk.com/robot/send?access_token=SECRET&timestamp=17&sign=S1G",
        )
        .unwrap();
        let shown = url(&u);
        assert_eq!(
            shown,
            "https://oapi.dingtalk.com/robot/send?access_token=[redacted]&timestamp=17&sign=[redacted]"
        );
        let u = Url::parse("https://u:p@h/x?key=K#frag").unwrap();
        assert_eq!(url(&u), "https://u:[redacted]@h/x?key=[redacted]");
    }

    #[test]
    fn peer_text_drops_query_strings_and_secret_values() {
        let body = r#"{"errcode":300001,"errmsg":"token invalid, url https://oapi.dingtalk.com/robot/send?access_token=SECRET1 rejected","access_token":"SECRET2"} access_token=SECRET3&x=1 Authorization: Bearer SECRET4"#;
        let shown = peer_text(body, 1000);
        for s in ["SECRET1", "SECRET2", "SECRET3", "SECRET4"] {
            assert!(!shown.contains(s), "{s} in {shown}");
        }
        assert!(shown.contains("errcode\":300001"), "{shown}");
        assert!(shown.contains("https://oapi.dingtalk.com/robot/send?[redacted]"));
        assert!(shown.contains("x=1"), "{shown}");
    }

    #[test]
    fn peer_text_is_cut_and_escapes_control_characters() {
        let shown = peer_text(&"é".repeat(500), 10);
        assert_eq!(shown.chars().count(), 11);
        assert!(shown.ends_with('…'));
        let shown = peer_text("line1\nFORGED\u{1b}[2J", 100);
        assert!(
            !shown.contains('\n') && !shown.contains('\u{1b}'),
            "{shown}"
        );
        assert_eq!(peer_text("  ", 10), "(empty)");
    }

    #[test]
    fn userinfo_in_text_is_redacted() {
        let shown = peer_text("cannot reach https://u:PASS@agent/v1/probe: refused", 200);
        assert!(!shown.contains("PASS"), "{shown}");
        assert!(
            shown.contains("https://[redacted]@agent/v1/probe"),
            "{shown}"
        );
    }
}
